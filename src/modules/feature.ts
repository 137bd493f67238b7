import type { Worker } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import type { LimitSpec } from '../infra/limit-spec.js';
import type { AnyMailTemplate } from '../infra/mail/render.js';
import type { Topic } from '../infra/pubsub.js';
import type { QueueName } from '../infra/queue.js';

/**
 * What a feature brings to the app, declared by the feature itself in its `<feature>.module.ts` and
 * registered with one line of the composition root's module list. `W` is the part of the wiring (the
 * services the composition root builds) the feature's doors and workers need: the compiler checks that
 * the root provides it.
 */
export interface Feature<W> {
  readonly name: string;
  /** GraphQL resolver classes, each with the factory of its one instance. */
  readonly resolvers?: readonly ResolverBinding<W>[];
  /** REST doors, each mounted under `/auth` and `/v1/auth`. */
  readonly routes?: (wiring: W) => readonly FastifyPluginAsync[];
  /** Doors at the root of the origin, outside the `/auth` shim (such as `/oauth/introspect`). */
  readonly rootRoutes?: (wiring: W) => readonly FastifyPluginAsync[];
  /** REST doors for operators, each mounted under `/v1/admin` (every route checks the caller's role itself). */
  readonly adminRoutes?: (wiring: W) => readonly FastifyPluginAsync[];
  /** BullMQ workers, started in every process that runs workers. */
  readonly workers?: readonly ((wiring: W) => Worker | Promise<Worker>)[];
  /**
   * Queues the feature owns (their payloads are its entries of `JobMap`), and whether their jobs are
   * written through the outbox in the transaction that needs them.
   */
  readonly jobs?: { readonly [Q in QueueName]?: { readonly viaOutbox: boolean; /** Failed attempts logged at debug, the final failure at warn. */ readonly quietRetries?: boolean } };
  /** Pub/sub topics the feature defines (their payloads are its entries of `Topics`). */
  readonly topics?: readonly Topic[];
  /** Its rate limits, each declared once (`<feature>.limits.ts`) and counted by every door that needs it. */
  readonly limits?: Readonly<Record<string, (...args: never[]) => LimitSpec>>;
  /** The emails it sends, one template file each. */
  readonly templates?: readonly AnyMailTemplate[];
}

/** A resolver class and how to build its one instance from the wiring. */
export interface ResolverBinding<W> {
  // type-graphql types resolver classes as bare Function; any constructor will do here.
  readonly type: abstract new (...args: never[]) => object;
  readonly make: (wiring: W) => object;
}

/** Binds a resolver class to its factory; the factory must build an instance of that very class. */
export const resolver = <W, R extends object>(type: abstract new (...args: never[]) => R, make: (wiring: W) => R): ResolverBinding<W> => ({ type, make });
