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
    // CONTRACT.md names the scalar `DateTime`; type-graphql's default would be `DateTimeISO`.
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    // Every root field of every query and mutation draws on the caller's general budget.
    globalMiddlewares: [GeneralBudget],
    validate: false,
  });
}

/** A container over instances built by hand in the composition root (no DI framework). */
export function instanceContainer(instances: object[]): ContainerType {
  const byClass = new Map<unknown, object>(instances.map((i) => [i.constructor, i]));
  return {
    get(cls) {
      const found = byClass.get(cls);
      if (!found) throw new Error(`no instance wired for resolver ${(cls as { name?: string }).name ?? '?'}`);
      return found;
    },
  };
}
