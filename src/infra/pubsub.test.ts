import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../modules/sessions/sessions.module.js'; // declares the `sessionEnded` topic used here
import { isAppError } from './errors.js';
import { createRedisPubSub, MAX_PENDING_EVENTS, type Message, type PubSub } from './pubsub.js';
import { createRedis, type Redis } from './redis.js';

const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The writes `client` makes to its socket during `call` (a pipeline is one). */
async function writesOf(client: Redis, call: () => Promise<unknown>): Promise<number> {
  const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
  const write = stream.write;
  let writes = 0;
  stream.write = function (this: unknown, ...args: unknown[]) {
    writes++;
    return write.apply(this, args);
  };
  try {
    await call();
  } finally {
    stream.write = write;
  }
  return writes;
}

describe('pub/sub: publishAll', () => {
  const prefix = `test:pubsub:${randomUUID()}:`;
  let publisher: Redis;
  let subscriber: Redis;
  let pubsub: PubSub;

  beforeAll(async () => {
    publisher = createRedis({ url, name: 'latchkey-test-pub' });
    subscriber = createRedis({ url, name: 'latchkey-test-sub', failFast: false, maxRetriesPerRequest: null });
    await Promise.all([publisher.connect(), subscriber.connect()]);
    pubsub = createRedisPubSub(publisher, subscriber, prefix);
  });

  afterAll(() => {
    publisher.disconnect();
    subscriber.disconnect();
  });

  it('sends a batch in one write, and every subscriber of each message gets it, in order', async () => {
    const a = pubsub.subscribe('sessionEnded', 'all');
    const received: unknown[] = [];
    const reading = (async () => {
      for await (const m of a) {
        received.push(m);
        if (received.length === 3) break;
      }
    })();
    // The SUBSCRIBE reaches Redis before anything is published.
    await new Promise((r) => setTimeout(r, 100));
    const batch: Message[] = [1, 2, 3].map((i) => ({ topic: 'sessionEnded', id: 'all', payload: { sessionId: `s${i}`, reason: 'SESSION_REVOKED' } }));
    expect(await writesOf(publisher, () => pubsub.publishAll(batch))).toBe(1);
    await reading;
    expect(received).toEqual(batch.map((m) => m.payload));
  });

  it('writes nothing for an empty batch', async () => {
    expect(await writesOf(publisher, () => pubsub.publishAll([]))).toBe(0);
  });

  it('rejects while Redis cannot take it (the caller keeps the rows to publish again)', async () => {
    const down = createRedis({ url: 'redis://127.0.0.1:1', name: 'latchkey-test-down' });
    const offline = createRedisPubSub(down, subscriber, prefix);
    try {
      await expect(offline.publishAll([{ topic: 'sessionEnded', id: 'all', payload: { sessionId: 's', reason: 'SESSION_REVOKED' } }])).rejects.toBeInstanceOf(Error);
    } finally {
      down.disconnect();
    }
  });
});

describe('pub/sub: a subscription that falls behind', () => {
  const prefix = `test:pubsub-backlog:${randomUUID()}:`;
  let publisher: Redis;
  let subscriber: Redis;

  beforeAll(async () => {
    publisher = createRedis({ url, name: 'latchkey-test-pub' });
    subscriber = createRedis({ url, name: 'latchkey-test-sub', failFast: false, maxRetriesPerRequest: null });
    await Promise.all([publisher.connect(), subscriber.connect()]);
  });

  afterAll(() => {
    publisher.disconnect();
    subscriber.disconnect();
  });

  const burst = (n: number): Message[] =>
    Array.from({ length: n }, (_, i) => ({ topic: 'sessionEnded', id: 'all', payload: { sessionId: `s${i}`, reason: 'SESSION_REVOKED' } }));

  /**
   * A consumer waiting for its first event, then busy while `n` messages arrive in one pipeline: what
   * reading on gives (the events it got, and the error it ended with, if any).
   */
  async function readAfterBurst(pubsub: PubSub, n: number): Promise<{ received: number; error: unknown }> {
    const sub = pubsub.subscribe('sessionEnded', 'all');
    const first = sub.next();
    await new Promise((r) => setTimeout(r, 100)); // SUBSCRIBE first
    await pubsub.publishAll(burst(n));
    await new Promise((r) => setTimeout(r, 200)); // every message has arrived
    let received = 0;
    try {
      let r: IteratorResult<unknown> | 'idle' = await first;
      while (r !== 'idle' && !r.done) {
        received++;
        r = await Promise.race([sub.next(), new Promise<'idle'>((res) => setTimeout(() => res('idle'), 100))]);
      }
      return { received, error: undefined };
    } catch (error) {
      return { received, error };
    } finally {
      await sub.return?.();
    }
  }

  it('holds up to its bound, and its consumer then gets every event', async () => {
    expect(await readAfterBurst(createRedisPubSub(publisher, subscriber, prefix, { maxPending: 8 }), 9)).toEqual({ received: 9, error: undefined });
  });

  it("past its bound ends with SERVICE_UNAVAILABLE (the client pages from its last event) instead of throwing in Redis' message handler", async () => {
    const { received, error } = await readAfterBurst(createRedisPubSub(publisher, subscriber, prefix, { maxPending: 8 }), 50);
    expect(received).toBe(1);
    expect(isAppError(error) && error.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('the default bound: a burst past it ends the subscription, and the process goes on', async () => {
    const { error } = await readAfterBurst(createRedisPubSub(publisher, subscriber, prefix), MAX_PENDING_EVENTS + 100);
    expect(isAppError(error) && error.code).toBe('SERVICE_UNAVAILABLE');
    // The channel still works for a new subscription.
    expect(await readAfterBurst(createRedisPubSub(publisher, subscriber, prefix), 3)).toEqual({ received: 3, error: undefined });
  });
});
