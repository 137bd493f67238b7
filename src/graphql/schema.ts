import 'reflect-metadata';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { GeneralBudget } from './rate-limit.js';
import { buildSchema, type ContainerType, type NonEmptyArray, type PubSub } from 'type-graphql';
/** Resolver classes as type-graphql takes them (it types them as bare Function). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type ResolverClasses = NonEmptyArray<Function>;

/** Printing the schema needs no live pub/sub; subscribing through this one is a wiring bug. */
const NO_PUBSUB: PubSub = {
  publish: () => {
    throw new Error('no pub/sub wired');
  },
  subscribe: () => {
    throw new Error('no pub/sub wired');
  },
};

/**
 * Builds the executable schema of these resolver classes (the composition root lists them). Without a
 * container and pub/sub it is only good for printing (`schema:emit`).
 */
export function buildGraphQLSchema(resolvers: ResolverClasses, container?: ContainerType, pubSub: PubSub = NO_PUBSUB): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    container,
    pubSub,
    // The API's scalar is `DateTime` (docs/api.md, "Operations"); type-graphql's default would be `DateTimeISO`.
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    // Every root field of every query and mutation draws on the caller's general budget.
    globalMiddlewares: [GeneralBudget],
    validate: false,
  });
}

/**
 * A container over instances built by hand in the composition root (no DI framework), checked at start:
 * every resolver class has exactly one instance and every instance a class, or the start fails naming
 * them (type-graphql would otherwise fail only on the first call of the field).
 */
export function instanceContainer(classes: ResolverClasses, instances: readonly object[]): ContainerType {
  const byClass = new Map<unknown, object>();
  const problems: string[] = [];
  for (const instance of instances) {
    const cls = instance.constructor;
    if (!classes.includes(cls)) problems.push(`${nameOf(cls)} is built but is not a resolver class of the schema`);
    else if (byClass.has(cls)) problems.push(`${nameOf(cls)} is built twice`);
    byClass.set(cls, instance);
  }
  for (const cls of classes) if (!byClass.has(cls)) problems.push(`${nameOf(cls)} has no instance`);
  if (problems.length > 0) throw new Error(`GraphQL resolvers are miswired (each module's manifest binds a class to its factory): ${problems.join('; ')}`);
  return {
    get(cls) {
      const found = byClass.get(cls);
      if (!found) throw new Error(`no instance wired for resolver ${nameOf(cls)}`);
      return found;
    },
  };
}

const nameOf = (cls: unknown) => (cls as { name?: string } | undefined)?.name || '(anonymous class)';
