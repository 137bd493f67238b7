import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../infra/redis.js';
import { clearRedisPrefix, uniquePrefix } from '../../test/harness.js';
import { AlertWindows } from './alert-windows.js';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Observes each member in turn; the `fired` flags. */
async function run(windows: AlertWindows, network: string, members: string[], limit = { threshold: 3, windowSeconds: 60 }) {
  const fired: boolean[] = [];
  for (const m of members) fired.push((await windows.observe('credential_stuffing', network, m, limit)).fired);
  return fired;
}

describe('AlertWindows in Redis (shared by every instance)', () => {
  const prefix = uniquePrefix('alert-windows');
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedis({ url: redisUrl, name: 'alert-windows-test' });
    await redis.connect();
  });
  afterAll(async () => {
    redis.disconnect();
    await clearRedisPrefix(prefix);
  });

  it('counts distinct members and fires once, on the observation that reaches the threshold', async () => {
    const w = new AlertWindows(redis, prefix);
    expect(await run(w, '192.0.2.1', ['a', 'a', 'b', 'b', 'c', 'd', 'e'])).toEqual([false, false, false, false, true, false, false]);
    const again = await w.observe('credential_stuffing', '192.0.2.1', 'f', { threshold: 3, windowSeconds: 60 });
    expect(again).toEqual({ count: 3, fired: false, countedIn: 'redis' });
  });

  it('keeps rules and networks apart, and two instances share one count', async () => {
    const one = new AlertWindows(redis, prefix);
    const two = new AlertWindows(redis, prefix);
    expect(await run(one, '192.0.2.2', ['a', 'b'])).toEqual([false, false]);
    expect(await run(two, '192.0.2.3', ['c', 'd'])).toEqual([false, false]);
    expect((await two.observe('signup_burst', '192.0.2.2', 'x', { threshold: 3, windowSeconds: 60 })).fired).toBe(false);
    expect(await run(two, '192.0.2.2', ['c'])).toEqual([true]);
    expect(await run(one, '192.0.2.2', ['d'])).toEqual([false]);
  });

  it('gives the window back with rearm (its audit entry could not be written)', async () => {
    const w = new AlertWindows(redis, prefix);
    expect(await run(w, '192.0.2.4', ['a', 'b', 'c'])).toEqual([false, false, true]);
    await w.rearm('credential_stuffing', '192.0.2.4', 'redis');
    expect(await run(w, '192.0.2.4', ['d', 'e'])).toEqual([true, false]);
  });

  it('forgets members older than the window, and fires again once the window has passed', async () => {
    const w = new AlertWindows(redis, prefix);
    const limit = { threshold: 2, windowSeconds: 1 };
    expect(await run(w, '192.0.2.5', ['a', 'b', 'c'], limit)).toEqual([false, true, false]);
    await sleep(1_100);
    const late = await w.observe('credential_stuffing', '192.0.2.5', 'd', limit);
    expect(late).toEqual({ count: 1, fired: false, countedIn: 'redis' });
    expect(await run(w, '192.0.2.5', ['e'], limit)).toEqual([true]);
  });

  it('holds at most `threshold` members per network', async () => {
    const w = new AlertWindows(redis, prefix);
    await run(w, '192.0.2.6', Array.from({ length: 50 }, (_, i) => `m${i}`));
    const keys = await redis.keys(`${prefix}alert:credential_stuffing:*`);
    for (const key of keys.filter((k) => !k.endsWith(':fired'))) expect(await redis.zcard(key)).toBeLessThanOrEqual(3);
  });
});

describe('AlertWindows with Redis unreachable: this process counts in memory', () => {
  let redis: Redis;
  beforeAll(() => {
    // Nothing listens on port 1: every command fails at once (fail-fast client).
    redis = createRedis({ url: 'redis://127.0.0.1:1', name: 'alert-windows-down' });
  });
  afterAll(() => redis.disconnect());

  it('follows the same rules: distinct members, once per window, rearm', async () => {
    const clock = { now: 1_000_000 };
    const w = new AlertWindows(redis, 'unused:', () => clock.now);
    const first = await w.observe('credential_stuffing', '192.0.2.7', 'a', { threshold: 3, windowSeconds: 60 });
    expect(first).toEqual({ count: 1, fired: false, countedIn: 'memory' });
    expect(await run(w, '192.0.2.7', ['a', 'b', 'c', 'd'])).toEqual([false, false, true, false]);
    await w.rearm('credential_stuffing', '192.0.2.7', 'memory');
    expect(await run(w, '192.0.2.7', ['e', 'f'])).toEqual([true, false]);

    clock.now += 61_000;
    expect(await run(w, '192.0.2.7', ['g', 'h', 'i'])).toEqual([false, false, true]);
  });
});
