import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { Redis } from 'ioredis';
import { AppError } from './errors.js';

/**
 * Topics carried across instances by Redis pub/sub, each scoped by an id (a user or a session), and their
 * payloads. Empty here: each feature adds its topics in its manifest (`declare module
 * '.../infra/pubsub.js' { interface Topics { ... } }`), so publishers and subscribers share one typed map.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging, per feature
export interface Topics {}

export type Topic = keyof Topics & string;

/** One message of `publishAll`: a topic, the id it is scoped by, and its payload. */
export type Message = { [T in Topic]: { topic: T; id: string; payload: Topics[T] } }[Topic];

export interface PubSub {
  /** Resolves once Redis accepted the message; rejects on an outage so the caller can retry from storage. */
  publish<T extends Topic>(topic: T, id: string, payload: Topics[T]): Promise<void>;
  /**
   * Several messages in one write to Redis (a pipeline), in order; resolves once Redis accepted them all,
   * rejects if it refused any (the caller retries the batch from storage: subscribers dedupe by id).
   */
  publishAll(messages: readonly Message[]): Promise<void>;
  subscribe<T extends Topic>(topic: T, id: string): AsyncIterableIterator<Topics[T]>;
}

/**
 * The instance's subscriber connection, as sockets need to know it: a message published while it is down
 * never arrives here (Redis pub/sub keeps nothing), so whoever relies on it must hear about the gap.
 */
export interface PubSubLink {
  /** True while messages published now reach this instance's subscriptions. */
  listening(): boolean;
  /** Runs `listener` each time the connection drops. */
  onInterrupted(listener: () => void): void;
}

export function pubSubLink(subscribeClient: Redis): PubSubLink {
  return {
    listening: () => subscribeClient.status === 'ready',
    onInterrupted: (listener) => {
      subscribeClient.on('close', listener);
    },
  };
}

/**
 * Events a subscription may hold that its consumer has not taken yet. Its consumer executes the
 * subscription's document for each event (ws-fanout.ts), so a burst (a feed batch, published in one
 * pipeline, arrives in one read) waits here meanwhile. Past the bound the subscription ends with
 * SERVICE_UNAVAILABLE: its sockets close with 1013, and clients reconnect and page from their last event.
 */
export const MAX_PENDING_EVENTS = 1024;

/** What the Redis event target hands each listener: the parsed message as the event's `detail`. */
interface MessageEvent {
  detail: unknown;
}
type Listener = (event: MessageEvent) => void;

/**
 * One subscription's stream of `channel`: events queue (up to `maxPending`) until the consumer takes
 * them. Never throws where Redis' message handler calls it: graphql-yoga's Repeater-based pub/sub threw
 * an uncaught RepeaterOverflowError there past 1024 pending events, which ended the process.
 */
function boundedSubscription<T>(
  target: { addEventListener(type: string, cb: Listener): void; removeEventListener(type: string, cb: Listener): void },
  channel: string,
  maxPending: number,
): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let head = 0;
  let waiting: { resolve(r: IteratorResult<T>): void; reject(err: unknown): void } | undefined;
  let failure: unknown;
  let ended = false;
  const done = (): IteratorResult<T> => ({ done: true, value: undefined });
  const stop = () => {
    if (ended) return;
    ended = true;
    target.removeEventListener(channel, listener);
  };
  const listener: Listener = (event) => {
    if (ended) return;
    const value = event.detail as T;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w.resolve({ done: false, value });
      return;
    }
    if (queue.length - head >= maxPending) {
      // The consumer fell this far behind: what it would miss cannot be told apart from what it got.
      failure = new AppError('SERVICE_UNAVAILABLE', 'This subscription fell behind its events: subscribe again and page from the last event received');
      queue.length = 0;
      head = 0;
      stop();
      return;
    }
    queue.push(value);
  };
  target.addEventListener(channel, listener);
  return {
    next() {
      if (head < queue.length) {
        const value = queue[head++]!;
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        }
        return Promise.resolve({ done: false, value });
      }
      if (failure !== undefined) {
        const err = failure;
        failure = undefined;
        return Promise.reject(err);
      }
      if (ended) return Promise.resolve(done());
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    return() {
      stop();
      queue.length = 0;
      head = 0;
      failure = undefined;
      const w = waiting;
      waiting = undefined;
      w?.resolve(done());
      return Promise.resolve(done());
    },
    throw(err?: unknown) {
      stop();
      queue.length = 0;
      head = 0;
      const w = waiting;
      waiting = undefined;
      w?.resolve(done());
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Redis-backed pub/sub over graphql-yoga's Redis event target (as type-graphql's redis-subscriptions
 * example has it), with three changes: channels carry the deployment's key prefix, publishing is awaited
 * (the library fires PUBLISH and forgets, which would turn an outage into an unhandled rejection), and
 * each subscription's backlog is bounded (`boundedSubscription`).
 */
export function createRedisPubSub(publishClient: Redis, subscribeClient: Redis, prefix: string, opts: { maxPending?: number } = {}): PubSub {
  const maxPending = opts.maxPending ?? MAX_PENDING_EVENTS;
  // The library fires SUBSCRIBE/UNSUBSCRIBE without handling their promises; during an outage or at
  // shutdown they reject ("Connection is closed") and would surface as unhandled rejections. ioredis
  // re-subscribes by itself on reconnect, so a failed call needs no retry here.
  const quietSubscriber = new Proxy(subscribeClient, {
    get(target, prop, receiver) {
      if (prop === 'subscribe' || prop === 'unsubscribe') {
        return (...channels: string[]) => target[prop](...channels).catch(() => undefined);
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  // The target's listeners get the parsed message as `detail` (a CustomEvent); typed here as only that.
  const target = createRedisEventTarget({ publishClient, subscribeClient: quietSubscriber }) as unknown as {
    addEventListener(type: string, cb: Listener): void;
    removeEventListener(type: string, cb: Listener): void;
  };
  const channel = (name: string) => `${prefix}pubsub:${name}`;
  return {
    async publish(topic, id, payload) {
      await publishClient.publish(channel(`${topic}:${id}`), JSON.stringify(payload));
    },
    async publishAll(messages) {
      if (messages.length === 0) return;
      // A batch of the publisher or the audit sealer: one write (and one wake-up of Redis) instead of one
      // per message, which on a busy box is most of what a publish costs.
      const pipeline = publishClient.pipeline();
      for (const m of messages) pipeline.publish(channel(`${m.topic}:${m.id}`), JSON.stringify(m.payload));
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
      if (replies.length !== messages.length) throw new Error(`pub/sub: ${replies.length} of ${messages.length} messages answered`);
    },
    subscribe(topic, id) {
      return boundedSubscription<Topics[typeof topic]>(target, channel(`${topic}:${id}`), maxPending);
    },
  };
}
