import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../infra/config.js';
import { AppError } from '../../infra/errors.js';

export interface FailureOutcome {
  /** This failure locked the account. */
  lockedNow: boolean;
  /** When the lock ends; null for a lock only the unlock link or a reset can lift. */
  until: Date | null;
}

const MAX_LOCK_SECONDS = 86_400;
const TOTAL_TTL_SECONDS = 30 * 86_400;

// One atomic step: count the failure in the window and in total, and lock when a threshold is crossed.
// KEYS: fails (window), total, locks (how many locks so far), lock. ARGV: window, totalTtl, threshold, base, maxFailures, maxLock.
const RECORD_FAILURE = `
local fails = redis.call('INCR', KEYS[1])
if fails == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local total = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if total >= tonumber(ARGV[5]) then
  redis.call('SET', KEYS[4], 'permanent', 'EX', ARGV[2])
  return {1, -1}
end
if fails >= tonumber(ARGV[3]) then
  local n = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  local secs = math.min(tonumber(ARGV[4]) * (2 ^ (n - 1)), tonumber(ARGV[6]))
  redis.call('SET', KEYS[4], 'timed', 'EX', math.floor(secs))
  redis.call('DEL', KEYS[1])
  return {1, math.floor(secs)}
end
return {0, 0}`;

interface MemoryEntry {
  fails: number;
  windowEnds: number;
  total: number;
  locks: number;
  lockedUntil: number; // Infinity: until unlocked
}

/**
 * Account lockout against online guessing from many IPs (NIST SP 800-63B §5.2.2): failures are counted
 * per account whatever the IP; a threshold within a window locks with growing delays, and no account
 * ever allows more than `maxFailures` failures in total. Callers key known accounts by id and unknown
 * identifiers by the identifier, so a lock looks the same whether or not the account exists.
 * With Redis down, counting continues in this process's memory: never no protection.
 */
export class Lockout {
  private readonly memory = new Map<string, MemoryEntry>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly cfg: Config['lockout'],
  ) {}

  private keys(subject: string): [string, string, string, string] {
    const h = createHash('sha256').update(subject.toLowerCase()).digest('base64url');
    const base = `${this.prefix}lockout:${h}`;
    return [`${base}:fails`, `${base}:total`, `${base}:locks`, `${base}:lock`];
  }

  /** ACCOUNT_LOCKED (with `retryAfter` when the lock is timed) while the subject is locked. */
  async check(subject: string, durableUntil?: Date | null): Promise<void> {
    let retryAfter: number | undefined;
    let locked = false;
    const lockKey = this.keys(subject)[3];
    try {
      const [[, value], [, ttl]] = ((await this.redis.multi().get(lockKey).ttl(lockKey).exec()) ?? []) as [[unknown, string | null], [unknown, number]];
      if (value) {
        locked = true;
        if (value === 'timed' && ttl > 0) retryAfter = ttl;
      }
    } catch {
      const m = this.memory.get(subject);
      if (m && m.lockedUntil > Date.now()) {
        locked = true;
        if (Number.isFinite(m.lockedUntil)) retryAfter = Math.ceil((m.lockedUntil - Date.now()) / 1000);
      }
    }
    // The database remembers a lock even if Redis forgot it (a restart without persistence).
    if (!locked && durableUntil && durableUntil.getTime() > Date.now()) {
      locked = true;
      retryAfter = Math.ceil((durableUntil.getTime() - Date.now()) / 1000);
    }
    if (locked) {
      throw new AppError('ACCOUNT_LOCKED', 'Too many failed sign-ins: the account is locked. Use the link we emailed, or reset the password.', retryAfter === undefined ? {} : { retryAfter });
    }
  }

  async recordFailure(subject: string): Promise<FailureOutcome> {
    const c = this.cfg;
    try {
      const [locked, secs] = (await this.redis.eval(RECORD_FAILURE, 4, ...this.keys(subject), c.windowSeconds, TOTAL_TTL_SECONDS, c.threshold, c.baseSeconds, c.maxFailures, MAX_LOCK_SECONDS)) as [number, number];
      if (!locked) return { lockedNow: false, until: null };
      return { lockedNow: true, until: secs < 0 ? null : new Date(Date.now() + secs * 1000) };
    } catch {
      return this.recordInMemory(subject);
    }
  }

  /** After a successful sign-in, an unlock link or a password reset. */
  async clear(subject: string): Promise<void> {
    this.memory.delete(subject);
    await this.redis.del(...this.keys(subject)).catch(() => undefined);
  }

  private recordInMemory(subject: string): FailureOutcome {
    const now = Date.now();
    const m = this.memory.get(subject) ?? { fails: 0, windowEnds: now + this.cfg.windowSeconds * 1000, total: 0, locks: 0, lockedUntil: 0 };
    if (now > m.windowEnds) Object.assign(m, { fails: 0, windowEnds: now + this.cfg.windowSeconds * 1000 });
    m.fails += 1;
    m.total += 1;
    this.memory.set(subject, m);
    if (m.total >= this.cfg.maxFailures) {
      m.lockedUntil = Infinity;
      return { lockedNow: true, until: null };
    }
    if (m.fails >= this.cfg.threshold) {
      m.locks += 1;
      m.fails = 0;
      const secs = Math.min(this.cfg.baseSeconds * 2 ** (m.locks - 1), MAX_LOCK_SECONDS);
      m.lockedUntil = now + secs * 1000;
      return { lockedNow: true, until: new Date(m.lockedUntil) };
    }
    return { lockedNow: false, until: null };
  }
}
