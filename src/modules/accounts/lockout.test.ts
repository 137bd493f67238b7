import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../infra/errors.js';
import { createRedis, type Redis } from '../../infra/redis.js';
import { clearRedisPrefix, uniquePrefix } from '../../test/harness.js';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.js';
import { Lockout } from './lockout.js';

const CFG = { threshold: 3, windowSeconds: 3600, baseSeconds: 120, maxFailures: 5 };
const REDIS = new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');

/** The same rules whether Redis counts (`redis`) or, while it is down, this process's memory (`memory`). */
describe.each(['redis', 'memory'] as const)('Lockout (%s)', (mode) => {
  let proxy: TcpProxy;
  let redis: Redis;
  const prefix = uniquePrefix(`lockout-${mode}`);
  let n = 0;
  const fresh = () => `user:test-${mode}-${n++}`;
  let lockout: Lockout;

  beforeAll(async () => {
    proxy = await startTcpProxy(REDIS.hostname, Number(REDIS.port || 6379));
    redis = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, name: 'latchkey-test-lockout' });
    await redis.connect();
    if (mode === 'memory') {
      proxy.cut();
      // Until the client has seen the cut, a command could still be written to the dead socket.
      while (redis.status === 'ready') await new Promise((r) => setTimeout(r, 10));
    }
  });
  afterAll(async () => {
    redis?.disconnect();
    await proxy?.close();
    await clearRedisPrefix(prefix);
  });
  beforeAll(() => {
    lockout = new Lockout(redis, prefix, CFG);
  });

  const fail = async (subject: string, count: number, source?: string) => {
    const out = [];
    for (let i = 0; i < count; i++) out.push(await lockout.recordFailure(subject, source === undefined ? {} : { source }));
    return out;
  };
  const code = (p: Promise<void>) => p.then(() => 'open', (e: unknown) => (e instanceof AppError ? e.code : 'other'));

  it('locks at the threshold (timed, once), and at the ceiling until lifted', async () => {
    const s = fresh();
    const first = await fail(s, 3);
    expect(first.map((o) => o.lockedNow)).toEqual([false, false, true]);
    expect(first[2]!.until).toBeInstanceOf(Date);
    const timed = await lockout.state(s);
    expect(timed.locked).toBe(true);
    expect(timed.retryAfter).toBeGreaterThan(60);
    await lockout.lift(s);
    const second = await fail(s, 2);
    expect(second.map((o) => o.lockedNow)).toEqual([false, true]);
    expect(second[1]!.until).toBeNull();
    expect(await lockout.state(s)).toEqual({ locked: true });
  });

  it('a known source counts apart and is blocked only by its own lock', async () => {
    const s = fresh();
    const device = '198.51.100.1\nsome browser';
    await fail(s, 5);
    expect(await code(lockout.check(s))).toBe('ACCOUNT_LOCKED');
    expect(await code(lockout.check(s, null, { source: device }))).toBe('open');
    await fail(s, 2, device);
    expect(await code(lockout.check(s, null, { source: device }))).toBe('open');
    await fail(s, 1, device);
    expect(await code(lockout.check(s, null, { source: device }))).toBe('ACCOUNT_LOCKED');
    expect(await code(lockout.check(s, null, { source: 'another device' }))).toBe('open');
    // Its success forgets its own failures only.
    await lockout.clear(s, { source: device });
    expect(await code(lockout.check(s, null, { source: device }))).toBe('open');
    expect(await code(lockout.check(s))).toBe('ACCOUNT_LOCKED');
  });

  it('lift ends every lock of the subject and its sources but keeps the count in a row; reset forgets it all', async () => {
    const s = fresh();
    const device = 'known device';
    await fail(s, 5);
    await fail(s, 5, device);
    await lockout.lift(s);
    expect(await code(lockout.check(s))).toBe('open');
    expect(await code(lockout.check(s, null, { source: device }))).toBe('open');
    // Past the ceiling already: one more failure locks again, until lifted.
    expect((await fail(s, 1))[0]).toEqual({ lockedNow: true, until: null });
    expect((await fail(s, 1, device))[0]).toEqual({ lockedNow: true, until: null });
    await lockout.reset(s);
    expect(await code(lockout.check(s))).toBe('open');
    expect(await code(lockout.check(s, null, { source: device }))).toBe('open');
    expect((await fail(s, 2)).some((o) => o.lockedNow)).toBe(false);
    expect((await fail(s, 2, device)).some((o) => o.lockedNow)).toBe(false);
  });

  it('a read says whether a success has counts to clear (always, while Redis cannot say), and clearCounted forgets them', async () => {
    const s = fresh();
    const device = 'known device';
    const counted = async (source?: string) => (await lockout.read([{ subject: s, opts: source === undefined ? {} : { source } }]))[0]!.counted;
    // Nothing to clear is known only from Redis: without it, a success clears as it always did.
    expect(await counted()).toBe(mode === 'memory');
    await fail(s, 2);
    expect(await counted()).toBe(true);
    expect(await counted(device)).toBe(mode === 'memory');
    await lockout.clearCounted(await lockout.read([{ subject: s }]));
    expect(await counted()).toBe(mode === 'memory');
    // Counted from zero again: two more failures do not reach the threshold (three).
    expect((await fail(s, 2)).some((o) => o.lockedNow)).toBe(false);
    // After the unlock link the count in a row stays, and a success must still clear it.
    await fail(s, 1);
    await lockout.lift(s);
    expect(await counted()).toBe(true);
  });

  it('honours the durable copy of a lock that Redis forgot', async () => {
    const s = fresh();
    expect(await lockout.state(s, new Date(Date.now() + 60_000))).toMatchObject({ locked: true });
    expect(await lockout.state(s, new Date(Date.now() - 1_000))).toEqual({ locked: false });
  });
});
