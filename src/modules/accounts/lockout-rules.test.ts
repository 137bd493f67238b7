import { describe, expect, it } from 'vitest';
import { AppError } from '../../infra/errors.js';
import { createRedis } from '../../infra/redis.js';
import { Lockout } from './lockout.js';
import { countFailure, liftCount, lockSeconds, lockStateAt, MAX_LOCK_SECONDS, type FailureCount, type FailureOutcome } from './lockout-rules.js';

const CFG = { threshold: 3, windowSeconds: 3600, baseSeconds: 120, maxFailures: 5 };
const T0 = Date.UTC(2030, 0, 1);
const s = (seconds: number) => seconds * 1000;

/** Failures one after the other at the given times (epoch ms): the count after them and what each did. */
function failures(times: number[], cfg = CFG, start?: FailureCount) {
  let count = start;
  const outcomes: FailureOutcome[] = [];
  for (const at of times) {
    const next = countFailure(count, at, cfg);
    count = next.count;
    outcomes.push(next.outcome);
  }
  return { count: count!, outcomes };
}

describe('lockout arithmetic', () => {
  it('locks at the threshold within the window, not one failure before', () => {
    const { count, outcomes } = failures([T0, T0 + s(10), T0 + s(20)]);
    expect(outcomes.map((o) => o.lockedNow)).toEqual([false, false, true]);
    expect(outcomes[2]!.until).toEqual(new Date(T0 + s(20) + s(120)));
    expect(lockStateAt(count, T0 + s(20))).toEqual({ locked: true, retryAfter: 120 });
  });

  it('forgets failures older than the window: the threshold counts within it only', () => {
    const { count, outcomes } = failures([T0, T0 + s(10), T0 + s(3601), T0 + s(3602)]);
    expect(outcomes.every((o) => !o.lockedNow)).toBe(true);
    expect(lockStateAt(count, T0 + s(3602))).toEqual({ locked: false });
  });

  it('starts a new window at the first failure after a timed lock, as the Redis script does by deleting the count', () => {
    // Locked at 20 s for 120 s; the window that began at 0 s would end at 3600 s.
    const locked = failures([T0, T0 + s(10), T0 + s(20)], { ...CFG, maxFailures: 100 });
    // Two failures just before and one just after where the old window would end: a new window holds all three.
    const after = failures([T0 + s(3590), T0 + s(3595), T0 + s(3605)], { ...CFG, maxFailures: 100 }, locked.count);
    expect(after.outcomes.map((o) => o.lockedNow)).toEqual([false, false, true]);
  });

  it('doubles each timed lock, from the base up to a day and no further', () => {
    const cfg = { ...CFG, maxFailures: 1_000 };
    let count: FailureCount | undefined;
    let at = T0;
    const lengths: number[] = [];
    for (let lock = 0; lock < 12; lock++) {
      const run = failures([at, at + 1, at + 2], cfg, count);
      count = run.count;
      lengths.push((run.outcomes[2]!.until!.getTime() - (at + 2)) / 1000);
      at = run.outcomes[2]!.until!.getTime() + 1; // once the lock has run out
    }
    expect(lengths).toEqual([120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 61440, 86400, 86400]);
    expect(lockSeconds(40, 120)).toBe(MAX_LOCK_SECONDS);
  });

  it('locks until lifted at the ceiling of failures in a row, timed locks and windows notwithstanding', () => {
    // A timed lock at the 3rd failure; the 4th and 5th come after it ran out, and the 5th is the ceiling.
    const { count, outcomes } = failures([T0, T0 + 1, T0 + 2, T0 + s(200), T0 + s(201), T0 + s(202)]);
    expect(outcomes.map((o) => o.lockedNow)).toEqual([false, false, true, false, true, false]);
    expect(outcomes[4]).toEqual({ lockedNow: true, until: null });
    expect(lockStateAt(count, T0 + s(365 * 86_400))).toEqual({ locked: true });
  });

  it('a failure while a lock holds is counted but reported as no new lock', () => {
    const { count, outcomes } = failures([T0, T0 + 1, T0 + 2, T0 + 3], { ...CFG, threshold: 2, maxFailures: 4 });
    // The 4th failure reaches the ceiling while the timed lock of the 2nd still holds.
    expect(outcomes.map((o) => o.lockedNow)).toEqual([false, true, false, false]);
    expect(lockStateAt(count, T0 + s(365 * 86_400))).toEqual({ locked: true });
  });

  it('a timed lock ends on time; the seconds left are rounded up', () => {
    const { count } = failures([T0, T0 + 1, T0 + 2]);
    const end = T0 + 2 + s(120);
    expect(lockStateAt(count, end - 1)).toEqual({ locked: true, retryAfter: 1 });
    expect(lockStateAt(count, end)).toEqual({ locked: false });
  });

  it('lifting ends the lock but keeps the failures in a row and the doubling', () => {
    const cfg = { ...CFG, maxFailures: 7 };
    const first = failures([T0, T0 + 1, T0 + 2], cfg);
    const lifted = liftCount(first.count);
    expect(lockStateAt(lifted, T0 + 3)).toEqual({ locked: false });
    // The next lock is the second: twice as long.
    const second = failures([T0 + 3, T0 + 4, T0 + 5], cfg, lifted);
    expect(second.outcomes[2]!.until).toEqual(new Date(T0 + 5 + s(240)));
    // Six in a row so far: the seventh reaches the ceiling, however the locks were lifted.
    const ceiling = failures([T0 + 6], cfg, liftCount(second.count));
    expect(ceiling.outcomes[0]).toEqual({ lockedNow: true, until: null });
  });
});

/** The memory fallback of `Lockout` itself: a client whose Redis is gone, and a clock the test moves. */
describe('Lockout with Redis down', () => {
  const gone = createRedis({ url: 'redis://127.0.0.1:1', name: 'latchkey-test-gone' });
  gone.disconnect(); // every command now fails at once, as during an outage
  const setup = (cfg = CFG) => {
    const clock = { now: T0 };
    return { clock, lockout: new Lockout(gone, 'unit:', cfg, () => clock.now) };
  };
  const code = (p: Promise<void>) => p.then(() => 'open', (e: unknown) => (e instanceof AppError ? e.code : 'other'));
  const fail = async (lockout: Lockout, subject: string, n: number, source?: string) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await lockout.recordFailure(subject, source === undefined ? {} : { source }));
    return out;
  };

  it('counts a known device apart: the subject locked everywhere else, the device open until its own lock', async () => {
    const { lockout } = setup();
    await fail(lockout, 'user:a', 5);
    expect(await code(lockout.check('user:a'))).toBe('ACCOUNT_LOCKED');
    expect(await code(lockout.check('user:a', null, { source: 'known device' }))).toBe('open');
    await fail(lockout, 'user:a', 3, 'known device');
    expect(await code(lockout.check('user:a', null, { source: 'known device' }))).toBe('ACCOUNT_LOCKED');
    expect(await code(lockout.check('user:a', null, { source: 'another device' }))).toBe('open');
  });

  it('a timed lock runs out by the clock, with ACCOUNT_LOCKED carrying the seconds left until then', async () => {
    const { clock, lockout } = setup();
    await fail(lockout, 'user:b', 3);
    clock.now += s(100);
    expect(await lockout.state('user:b')).toEqual({ locked: true, retryAfter: 20 });
    await expect(lockout.check('user:b')).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED', retryAfter: 20 });
    clock.now += s(20);
    expect(await code(lockout.check('user:b'))).toBe('open');
  });

  it('lift opens the subject and its devices but keeps the count: past the ceiling, the next failure locks again', async () => {
    const { lockout } = setup();
    await fail(lockout, 'user:c', 5);
    await fail(lockout, 'user:c', 5, 'device');
    await lockout.lift('user:c');
    expect(await code(lockout.check('user:c'))).toBe('open');
    expect(await code(lockout.check('user:c', null, { source: 'device' }))).toBe('open');
    expect(await fail(lockout, 'user:c', 1)).toEqual([{ lockedNow: true, until: null }]);
    expect(await fail(lockout, 'user:c', 1, 'device')).toEqual([{ lockedNow: true, until: null }]);
  });

  it('reset forgets the subject and every device of it, and no other subject', async () => {
    const { lockout } = setup();
    await fail(lockout, 'user:d', 4);
    await fail(lockout, 'user:d', 4, 'device');
    await fail(lockout, 'user:dd', 4);
    await lockout.reset('user:d');
    expect(await code(lockout.check('user:d'))).toBe('open');
    expect(await code(lockout.check('user:d', null, { source: 'device' }))).toBe('open');
    expect(await fail(lockout, 'user:d', 2)).toEqual([{ lockedNow: false, until: null }, { lockedNow: false, until: null }]);
    expect(await fail(lockout, 'user:d', 2, 'device')).toEqual([{ lockedNow: false, until: null }, { lockedNow: false, until: null }]);
    expect(await code(lockout.check('user:dd'))).toBe('ACCOUNT_LOCKED');
  });

  it('a success clears the failures of where it came from only', async () => {
    const { lockout } = setup();
    await fail(lockout, 'user:e', 2);
    await fail(lockout, 'user:e', 2, 'device');
    await lockout.clear('user:e', { source: 'device' });
    expect((await fail(lockout, 'user:e', 1))[0]!.lockedNow).toBe(true);
    expect((await fail(lockout, 'user:e', 2, 'device')).some((o) => o.lockedNow)).toBe(false);
  });

  it('honours the durable copy of the lock, by the same clock', async () => {
    const { clock, lockout } = setup();
    const until = new Date(T0 + s(60));
    expect(await lockout.state('user:f', until)).toEqual({ locked: true, retryAfter: 60 });
    clock.now = until.getTime();
    expect(await lockout.state('user:f', until)).toEqual({ locked: false });
  });
});
