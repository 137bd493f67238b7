import { createRedis } from '../infra/redis.js';

/**
 * Every key under `prefix` with everything it holds (strings, hashes, lists, sets, sorted sets,
 * streams), as one text per key: tests search it for what must never be in Redis in clear.
 */
export async function redisContents(prefix: string): Promise<Map<string, string>> {
  const redis = createRedis({ url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', name: 'latchkey-test-contents' });
  await redis.connect();
  const out = new Map<string, string>();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === 'string') value = await redis.get(key);
        else if (type === 'hash') value = await redis.hgetall(key);
        else if (type === 'list') value = await redis.lrange(key, 0, -1);
        else if (type === 'set') value = await redis.smembers(key);
        else if (type === 'zset') value = await redis.zrange(key, 0, -1);
        else if (type === 'stream') value = await redis.xrange(key, '-', '+');
        else if (type === 'none') continue; // expired between SCAN and TYPE
        else value = `(unread type ${type})`;
        out.set(key, `${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return out;
}

/** The keys under `prefix` whose name or content contains `needle` (case-insensitive). */
export async function redisKeysContaining(prefix: string, needle: string): Promise<string[]> {
  const lower = needle.toLowerCase();
  return [...(await redisContents(prefix))].filter(([, text]) => text.toLowerCase().includes(lower)).map(([key]) => key);
}
