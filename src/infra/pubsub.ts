import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from '@graphql-yoga/subscription';
import type { TypedEventTarget } from '@graphql-yoga/typed-event-target';
import type { Redis } from 'ioredis';

/**
 * Topics carried across instances by Redis pub/sub, each scoped by an id (a user or a session).
 * Features add their topic here so publishers and subscribers share one typed map.
 */
export interface Topics {
  /** A stored security event, pushed to the user's live subscriptions. Payload: the event row as JSON. */
  securityEvent: { id: string; type: string; occurredAt: string; sessionId: string | null; ip: string | null; userAgent: string | null; readAt: string | null };
  /** A session ended (logout, revocation, reuse): every instance closes that session's sockets. */
  sessionEnded: { sessionId: string; reason: string };
}

export type Topic = keyof Topics;

export interface PubSub {
  /** Resolves once Redis accepted the message; rejects on an outage so the caller can retry from storage. */
  publish<T extends Topic>(topic: T, id: string, payload: Topics[T]): Promise<void>;
  subscribe<T extends Topic>(topic: T, id: string): AsyncIterableIterator<Topics[T]>;
}

type AnyEvent = CustomEvent<unknown>;

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
  const target = createRedisEventTarget<AnyEvent>({ publishClient, subscribeClient: quietSubscriber });
  const channel = (name: string) => `${prefix}pubsub:${name}`;
  const prefixed: TypedEventTarget<AnyEvent> = {
    addEventListener: (type, cb) => target.addEventListener(channel(type), cb),
    removeEventListener: (type, cb) => target.removeEventListener(channel(type), cb),
    dispatchEvent: () => {
      throw new Error('publish through PubSub.publish, which awaits Redis');
    },
  };
  // Any: yoga's PubSub generic wants a literal topic map; ours is checked by the `PubSub` interface above.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const yoga = createPubSub<any>({ eventTarget: prefixed as any });
  return {
    async publish(topic, id, payload) {
      await publishClient.publish(channel(`${topic}:${id}`), JSON.stringify(payload));
    },
    subscribe(topic, id) {
      return yoga.subscribe(topic, id) as AsyncIterableIterator<Topics[typeof topic]>;
    },
  };
}
