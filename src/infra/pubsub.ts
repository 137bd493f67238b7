import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, type PubSubEvent } from '@graphql-yoga/subscription';
import type { TypedEventTarget } from '@graphql-yoga/typed-event-target';
import type { Redis } from 'ioredis';

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

/** Each topic as yoga's pub/sub takes it: published with the id it is scoped by, then the payload. */
type ScopedTopics = { [T in Topic]: [id: string, payload: Topics[T]] };
type TopicEvent = PubSubEvent<ScopedTopics, Topic>;

/**
 * Redis-backed pub/sub as type-graphql's redis-subscriptions example does it (graphql-yoga's
 * Redis event target), with two changes: channels carry the deployment's key prefix, and publishing
 * is awaited (the library fires PUBLISH and forgets, which would turn an outage into an unhandled rejection).
 */
export function createRedisPubSub(publishClient: Redis, subscribeClient: Redis, prefix: string): PubSub {
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
  const target = createRedisEventTarget<TopicEvent>({ publishClient, subscribeClient: quietSubscriber });
  const channel = (name: string) => `${prefix}pubsub:${name}`;
  const prefixed: TypedEventTarget<TopicEvent> = {
    addEventListener: (type, cb) => target.addEventListener(channel(type), cb),
    removeEventListener: (type, cb) => target.removeEventListener(channel(type), cb),
    dispatchEvent: () => {
      throw new Error('publish through PubSub.publish, which awaits Redis');
    },
  };
  // yoga types `subscribe`'s arguments by a conditional on the payload, which a generic topic cannot
  // settle; every payload here is an object, so each subscription is (topic, id), as this view says.
  const yoga: { subscribe(topic: Topic, id: string): AsyncIterableIterator<unknown> } = createPubSub<ScopedTopics>({ eventTarget: prefixed });
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
      return yoga.subscribe(topic, id) as AsyncIterableIterator<Topics[typeof topic]>;
    },
  };
}
