import type { Config } from '../../infra/config.js';

/** The longest timed lock: past it, doubling stops. */
export const MAX_LOCK_SECONDS = 86_400;

export interface FailureOutcome {
  /** This failure locked the subject (it was not locked before). */
  lockedNow: boolean;
  /** When the lock ends; null for a lock only the unlock link or a reset can lift. */
  until: Date | null;
}

export interface LockState {
  locked: boolean;
  /** Seconds left of a timed lock; undefined when not locked or locked until unlocked. */
  retryAfter?: number;
}

/** One subject's count, as the memory fallback keeps it (Redis keeps the same numbers in keys). */
export interface FailureCount {
  /** Failures in the current window. */
  fails: number;
  /** Epoch ms; 0: no window open (the next failure opens one). */
  windowEnds: number;
  /** Failures in a row, whatever the window: the ceiling's count. */
  total: number;
  /** Timed locks so far: each lasts twice the one before. */
  locks: number;
  /** Epoch ms; Infinity: until unlocked. */
  lockedUntil: number;
}

/** How long the `lockNumber`-th timed lock lasts: the base, doubling with each lock, at most a day. */
export const lockSeconds = (lockNumber: number, baseSeconds: number): number =>
  Math.min(baseSeconds * 2 ** (lockNumber - 1), MAX_LOCK_SECONDS);

/**
 * One more failure at `now` (epoch ms): the count after it and what it did. A window opens at the first
 * failure; `maxFailures` in a row lock until lifted; otherwise `threshold` within the window locks for
 * `lockSeconds` and closes the window. The Redis path runs the same steps in one Lua script
 * (`RECORD_FAILURE` in lockout.ts: its window is the `fails` key's expiry, and a lock deletes that key),
 * which must stay atomic and so cannot call this: lockout.test.ts runs the same sequences through both.
 */
export function countFailure(before: FailureCount | undefined, now: number, cfg: Config['lockout']): { count: FailureCount; outcome: FailureOutcome } {
  const count: FailureCount = before ? { ...before } : { fails: 0, windowEnds: 0, total: 0, locks: 0, lockedUntil: 0 };
  if (now >= count.windowEnds) Object.assign(count, { fails: 0, windowEnds: now + cfg.windowSeconds * 1000 });
  const was = count.lockedUntil > now;
  count.fails += 1;
  count.total += 1;
  if (count.total >= cfg.maxFailures) {
    count.lockedUntil = Infinity;
    return { count, outcome: { lockedNow: !was, until: null } };
  }
  if (count.fails >= cfg.threshold) {
    count.locks += 1;
    Object.assign(count, { fails: 0, windowEnds: 0 });
    count.lockedUntil = now + lockSeconds(count.locks, cfg.baseSeconds) * 1000;
    return { count, outcome: { lockedNow: !was, until: new Date(count.lockedUntil) } };
  }
  return { count, outcome: { lockedNow: false, until: null } };
}

/** Whether a count holds a lock at `now`, and for how many seconds more (rounded up) when timed. */
export function lockStateAt(count: FailureCount | undefined, now: number): LockState {
  if (!count || count.lockedUntil <= now) return { locked: false };
  return Number.isFinite(count.lockedUntil) ? { locked: true, retryAfter: Math.ceil((count.lockedUntil - now) / 1000) } : { locked: true };
}

/** The unlock link: the lock and its window end, but the failures in a row (and the doubling) stay. */
export const liftCount = (count: FailureCount): FailureCount => ({ ...count, fails: 0, windowEnds: 0, lockedUntil: 0 });
