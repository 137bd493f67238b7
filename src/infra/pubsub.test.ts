import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../modules/sessions/sessions.module.js'; // declares the `sessionEnded` topic used here
import { createRedisPubSub, type Message, type PubSub } from './pubsub.js';
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
