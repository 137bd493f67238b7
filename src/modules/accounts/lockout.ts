import { createHash } from 'node:crypto';
import type { Config } from '../../infra/config.js';
import { AppError } from '../../infra/errors.js';
import type { ReadAfterLimits } from '../../infra/rate-limit.js';
import { scriptCommand, type Redis } from '../../infra/redis.js';
import type { RequestMeta } from '../../core/request.js';
import { normalizeIdentifier } from '../identity/identifiers.js';
import { countFailure, liftCount, lockStateAt, MAX_LOCK_SECONDS, type FailureCount, type FailureOutcome, type LockState } from './lockout-rules.js';

export type { FailureOutcome, LockState } from './lockout-rules.js';

export interface LockoutOptions {
  /**
   * A known source of the subject (an address and client that held one of its sessions lately): its
   * failures are counted apart from everyone else's, and only its own lock blocks it.
   */
  source?: string;
}

/** A subject (or a source of it) asked after: `durableUntil` is the database's copy of the subject's lock. */
export interface LockAsk {
  subject: string;
  durableUntil?: Date | null;
  opts?: LockoutOptions;
}

/** What a read found of one ask: its lock state, and whether a success from there has counts to clear. */
export interface LockRead extends LockAsk {
  state: LockState;
  /**
   * Failures or locks are counted for it, in Redis or in memory, or Redis could not say: `clearCounted`
   * clears it after a success. False only when both were seen to hold nothing, so there is nothing to forget.
   */
  counted: boolean;
}

const TOTAL_TTL_SECONDS = 30 * 86_400;
/** During a Redis outage the memory fallback keeps at most this many counters (oldest dropped first). */
const MAX_MEMORY_ENTRIES = 50_000;

// One atomic step: count the failure in the window and in total, and lock when a threshold is crossed
// (the steps of `countFailure` in lockout-rules.ts, which the memory fallback runs).
// KEYS: fails (window), total, locks (how many locks so far), lock, sources (set).
// ARGV: window, totalTtl, threshold, base, maxFailures, maxLock, source member ('' for none).
const RECORD_FAILURE = `
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[5], ARGV[7])
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
local was = redis.call('EXISTS', KEYS[4])
local fails = redis.call('INCR', KEYS[1])
if fails == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local total = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if total >= tonumber(ARGV[5]) then
  redis.call('SET', KEYS[4], 'permanent', 'EX', ARGV[2])
  return {1 - was, -1}
end
if fails >= tonumber(ARGV[3]) then
  local n = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  local secs = math.min(tonumber(ARGV[4]) * (2 ^ (n - 1)), tonumber(ARGV[6]))
  redis.call('SET', KEYS[4], 'timed', 'EX', math.floor(secs))
  redis.call('DEL', KEYS[1])
  return {1 - was, math.floor(secs)}
end
return {0, 0}`;

// The state of each subject whose four keys (fails, total, locks, lock: `keysOf`) start at KEYS[first]:
// the lock's value ('' for none), its seconds left (TTL: -1 none, -2 gone), and how many of the four
// exist (any: a success from there has something to clear). Reads only.
const READ_LOCKS_FN = `
local function read(first)
  local out = {}
  for i = first, #KEYS, 4 do
    local lock = redis.call('GET', KEYS[i + 3]) or ''
    local counted = redis.call('EXISTS', KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3])
    out[#out + 1] = {lock, redis.call('TTL', KEYS[i + 3]), counted}
  end
  return out
end
`;

const READ_LOCKS = `${READ_LOCKS_FN}
return read(1)`;

/** One subject's reply of READ_LOCKS_FN. */
type LockReply = [lock: string, ttl: number, counted: number];

const sha = (s: string) => createHash('sha256').update(s).digest('base64url');

/** ACCOUNT_LOCKED (with `retryAfter` when the lock is timed) for a locked state. */
export function assertUnlocked({ locked, retryAfter }: LockState): void {
  if (locked) {
    throw new AppError('ACCOUNT_LOCKED', 'Too many failed sign-ins: the account is locked. Use the link we emailed, or reset the password.', retryAfter === undefined ? {} : { retryAfter });
  }
}

/**
 * Account lockout against online guessing (NIST SP 800-63B-4 §3.2.2). A subject (an account, or a
 * submitted identifier) counts failures whatever the IP; a threshold within a window locks it with
 * growing delays, and `maxFailures` failures in a row lock it until the unlock link or a reset.
 *
 * A subject may also count per known source (`opts.source`): such a source has counters of its own,
 * follows the same rules, and is blocked by its own lock only, never by the subject's. That is how an
 * attacker's lock spares the owner's usual device (OWASP's device-cookie idea, keyed by address and
 * client since clients send no cookie).
 *
 * With Redis down, counting continues in this process's memory: never no protection.
 */
export class Lockout {
  private readonly memory = new Map<string, FailureCount>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly cfg: Config['lockout'],
    /** Epoch ms. */
    private readonly now: () => number = Date.now,
  ) {}

  private base(subject: string): string {
    return `${this.prefix}lockout:${sha(subject.toLowerCase())}`;
  }

  private keysOf(base: string): [string, string, string, string] {
    return [`${base}:fails`, `${base}:total`, `${base}:locks`, `${base}:lock`];
  }

  private keys(subject: string, source?: string): [string, string, string, string] {
    const base = this.base(subject);
    return this.keysOf(source === undefined ? base : `${base}:src:${sha(source)}`);
  }

  private memoryKey(subject: string, source?: string): string {
    return source === undefined ? subject.toLowerCase() : `${subject.toLowerCase()}\u0000${sha(source)}`;
  }

  /** Whether the subject (or, with `opts.source`, that source of it) is locked; `durableUntil` is the database's copy of the subject's lock. */
  async state(subject: string, durableUntil?: Date | null, opts: LockoutOptions = {}): Promise<LockState> {
    return (await this.read([{ subject, durableUntil, opts }]))[0]!.state;
  }

  /** The lock state of each ask, and whether it has counts to clear, in one Redis round trip. */
  async read(asks: readonly LockAsk[]): Promise<LockRead[]> {
    let replies: LockReply[] | null;
    try {
      const keys = this.readKeys(asks);
      replies = (await scriptCommand(this.redis, 'latchkeyReadLocks', READ_LOCKS)(keys.length, ...keys)) as LockReply[];
    } catch {
      replies = null;
    }
    return this.readOf(asks, replies);
  }

  /**
   * `read`, to run in the script that counts a sign-in's limits (`Limits.consumeAllThen`): the limits and
   * the locks in one round trip. On its own (Redis unavailable) it is `read`, memory fallback included.
   */
  readAfterLimits(asks: readonly LockAsk[]): ReadAfterLimits<LockRead[]> {
    return {
      name: 'readLocks',
      lua: READ_LOCKS_FN,
      keys: this.readKeys(asks),
      parse: (reply) => this.readOf(asks, reply as LockReply[]),
      alone: () => this.read(asks),
    };
  }

  /** The four keys of each ask, in order (READ_LOCKS_FN's layout). */
  private readKeys(asks: readonly LockAsk[]): string[] {
    return asks.flatMap((a) => this.keys(a.subject, a.opts?.source));
  }

  /** The reads of `asks` from the script's replies, or from memory when Redis did not answer (null). */
  private readOf(asks: readonly LockAsk[], replies: readonly LockReply[] | null): LockRead[] {
    return asks.map((a, i) => {
      const inMemory = this.memory.get(this.memoryKey(a.subject, a.opts?.source));
      let state: LockState = { locked: false };
      // Without Redis's answer, whether it holds counts is unknown: clear as if it did.
      let counted = inMemory !== undefined || replies === null;
      if (replies) {
        const [value, ttl, keys] = replies[i]!;
        if (value) state = value === 'timed' && ttl > 0 ? { locked: true, retryAfter: ttl } : { locked: true };
        counted ||= keys > 0;
      } else {
        state = lockStateAt(inMemory, this.now());
      }
      // The database remembers a lock even if Redis forgot it (a restart without persistence).
      if (!state.locked && a.durableUntil && a.durableUntil.getTime() > this.now()) {
        state = { locked: true, retryAfter: Math.ceil((a.durableUntil.getTime() - this.now()) / 1000) };
      }
      return { ...a, state, counted };
    });
  }

  /** ACCOUNT_LOCKED (with `retryAfter` when the lock is timed) while the subject (or that source of it) is locked. */
  async check(subject: string, durableUntil?: Date | null, opts: LockoutOptions = {}): Promise<void> {
    assertUnlocked(await this.state(subject, durableUntil, opts));
  }

  async recordFailure(subject: string, opts: LockoutOptions = {}): Promise<FailureOutcome> {
    const c = this.cfg;
    const sources = `${this.base(subject)}:sources`;
    const member = opts.source === undefined ? '' : sha(opts.source);
    try {
      const [lockedNow, secs] = (await scriptCommand(this.redis, 'latchkeyRecordFailure', RECORD_FAILURE)(
        5,
        ...this.keys(subject, opts.source),
        sources,
        c.windowSeconds,
        TOTAL_TTL_SECONDS,
        c.threshold,
        c.baseSeconds,
        c.maxFailures,
        MAX_LOCK_SECONDS,
        member,
      )) as [number, number];
      if (!lockedNow) return { lockedNow: false, until: null };
      return { lockedNow: true, until: secs < 0 ? null : new Date(this.now() + secs * 1000) };
    } catch {
      return this.recordInMemory(this.memoryKey(subject, opts.source));
    }
  }

  /**
   * Forgets the failures of the subject, or with `opts.source` of that source of it: after a successful
   * sign-in from there (failures are counted in a row).
   */
  async clear(subject: string, opts: LockoutOptions = {}): Promise<void> {
    await this.clearAll([{ subject, opts }]);
  }

  /** `clear` of several subjects (and sources) in one Redis round trip. */
  async clearAll(subjects: readonly { subject: string; opts?: LockoutOptions }[]): Promise<void> {
    for (const { subject, opts } of subjects) this.memory.delete(this.memoryKey(subject, opts?.source));
    await this.redis.del(...subjects.flatMap(({ subject, opts }) => this.keys(subject, opts?.source))).catch(() => undefined);
  }

  /**
   * `clearAll` of the reads that hold counts: after a success, a read that saw none (in Redis and in
   * memory) needs no Redis call at all, and a sign-in with no failures before it makes none. A failure
   * counted between that read and the success (a concurrent attempt, while the password was checked)
   * then stays counted: the strict side, as if it had come just after the success.
   */
  async clearCounted(reads: readonly LockRead[]): Promise<void> {
    const counted = reads.filter((r) => r.counted);
    if (counted.length > 0) await this.clearAll(counted);
  }

  /** Forgets the failures of the subject and of every source of it: after a password reset. */
  async reset(subject: string): Promise<void> {
    const own = this.memoryKey(subject);
    for (const key of [...this.memory.keys()]) if (key === own || key.startsWith(`${own}\u0000`)) this.memory.delete(key);
    try {
      const base = this.base(subject);
      const members = await this.redis.smembers(`${base}:sources`);
      await this.redis.del(...this.keysOf(base), `${base}:sources`, ...members.flatMap((m) => this.keysOf(`${base}:src:${m}`)));
    } catch {
      // Redis is down: its counters expire on their own; memory was cleared above.
    }
  }

  /**
   * The unlock link: ends the subject's lock and every source's, but keeps the count of failures in a
   * row, so the ceiling still applies from there (the next failure past it locks again).
   */
  async lift(subject: string): Promise<void> {
    const own = this.memoryKey(subject);
    for (const [key, m] of this.memory) {
      if (key === own || key.startsWith(`${own}\u0000`)) this.memory.set(key, liftCount(m));
    }
    try {
      const base = this.base(subject);
      const members = await this.redis.smembers(`${base}:sources`);
      const bases = [base, ...members.map((m) => `${base}:src:${m}`)];
      await this.redis.del(...bases.flatMap((b) => [`${b}:fails`, `${b}:lock`]));
    } catch {
      // Redis is down: the memory locks were lifted above; the caller also clears the durable copy.
    }
  }

  private recordInMemory(key: string): FailureOutcome {
    const { count, outcome } = countFailure(this.memory.get(key), this.now(), this.cfg);
    // Most recently used last; the oldest go first when an outage lasts long enough to fill the map.
    this.memory.delete(key);
    this.memory.set(key, count);
    if (this.memory.size > MAX_MEMORY_ENTRIES) this.memory.delete(this.memory.keys().next().value!);
    return outcome;
  }
}

// The subjects the accounts feature counts under (kept as they are: other flows count under `user:<id>`).

/** An account: unknown sources' failures through either identifier, and (as sources of it) its known devices'. */
export const accountSubject = (userId: string): string => `user:${userId}`;

/** An identifier as typed, normalised: the lock callers see, the same for every identifier whether or not it names an account. */
export const identifierSubject = (normalizedIdentifier: string): string => `identifier:${normalizedIdentifier}`;

/** A source: the address and client of a request. */
export const sourceOf = (meta: Pick<RequestMeta, 'ip' | 'userAgent'>): string => `${meta.ip}\n${meta.userAgent ?? ''}`;

/** Every subject an account's failures may be counted under: for the unlock link and a password reset. */
export function lockSubjects(user: { id: string; username: string; email: string }): { account: string; identifiers: string[] } {
  return {
    account: accountSubject(user.id),
    identifiers: [identifierSubject(normalizeIdentifier(user.username)), identifierSubject(normalizeIdentifier(user.email))],
  };
}
