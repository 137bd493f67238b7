import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { OTHER_LABEL } from '../infra/metrics.js';

/** The label of an operation that selects several distinct root fields. */
export const MULTIPLE_LABEL = 'multiple';

/**
 * The `operation` label of the GraphQL metrics: the root field an operation selects (aliases of one field
 * are one field), `multiple` when it selects several, `other` for anything else (a document that never
 * resolved to an operation). The values are the schema's root field names and these two, whatever the
 * client sends: its `operationName` and aliases never reach a label.
 */
export function operationLabeler(schema: GraphQLSchema): (operation?: OperationDefinitionNode, document?: DocumentNode) => string {
  const known = new Set(['__typename', '__schema', '__type']);
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const name of Object.keys(root?.getFields() ?? {})) known.add(name);
  }
  return (operation, document) => {
    if (!operation) return OTHER_LABEL;
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of document?.definitions ?? []) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    const names = new Set<string>();
    collectRootFields(operation.selectionSet, fragments, names, new Set());
    // `__typename` beside real fields is bookkeeping (clients add it); alone it is the usual ping.
    if (names.size > 1) names.delete('__typename');
    if (names.size > 1) return MULTIPLE_LABEL;
    const [name] = names;
    return name !== undefined && known.has(name) ? name : OTHER_LABEL;
  };
}

/** Root field names, through inline fragments and fragment spreads; stops once two real fields are seen. */
function collectRootFields(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, names: Set<string>, seen: Set<string>): void {
  for (const selection of set.selections) {
    if (names.size > 2) return;
    if (selection.kind === Kind.FIELD) names.add(selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) collectRootFields(selection.selectionSet, fragments, names, seen);
    else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) continue;
      seen.add(fragment.name.value);
      collectRootFields(fragment.selectionSet, fragments, names, seen);
    }
  }
}
