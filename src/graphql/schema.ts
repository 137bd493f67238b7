import 'reflect-metadata';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { GeneralBudget } from './rate-limit.js';
import { buildSchema, type AuthChecker, type ContainerType, type NonEmptyArray, type PubSub } from 'type-graphql';
import type { Role } from '../core/request.js';
import type { GraphQLContext } from './context.js';
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

/** The role guard (AuthGuard.requireRole): resolves when the caller's current role holds `role`, else throws FORBIDDEN. */
export type RoleCheck = (ctx: GraphQLContext, role: Role) => Promise<unknown>;

/**
 * `@Authorized(role)` through the role guard. It is type-graphql's one hook that also runs when a
 * subscription starts (and again on each event it delivers), where a resolver instance cannot be reached.
 */
const roleChecker =
  (requireRole: RoleCheck): AuthChecker<GraphQLContext, Role> =>
  async ({ context }, roles) => {
    for (const role of roles) await requireRole(context, role);
    return true;
  };

/** Printing needs no guard; executing without one would leave `@Authorized` fields open, so nothing may. */
const NO_GUARD: AuthChecker<GraphQLContext, Role> = () => false;

/**
 * Builds the executable schema of these resolver classes (the composition root lists them). Without a
 * container, pub/sub and role guard it is only good for printing (`schema:emit`).
 */
export function buildGraphQLSchema(resolvers: ResolverClasses, container?: ContainerType, pubSub: PubSub = NO_PUBSUB, requireRole?: RoleCheck): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    container,
    pubSub,
    authChecker: requireRole ? roleChecker(requireRole) : NO_GUARD,
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
