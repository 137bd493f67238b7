import { createHmac, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { KeyRing } from '../../infra/crypto/secrets.js';
import { AppError } from '../../infra/errors.js';

export { checkPasswordPolicy, preloadCommonPasswords, PASSWORD_MAX_LENGTH, PASSWORD_MIN_FLOOR } from './password-policy.js';
export type { PasswordPolicyOptions } from './password-policy.js';

/** Options for {@link PasswordHasher}. */
export interface PasswordHasherOptions {
  /**
   * Secret HMAC key kept out of the database: the ring `AppSecrets.ring('password-pepper')` (the first
   * key peppers new hashes, every key verifies the hashes it made), or a single key.
   */
  pepper: KeyRing | Buffer;
  /** bcrypt work factor (4..31; config allows 4 in tests, 10+ in production). */
  cost: number;
  /**
   * Most bcrypt operations in flight at once. Default: `os.availableParallelism()`, but never more
   * than libuv's threadpool size minus one, so one pool thread always stays free for fs, dns.lookup,
   * zlib and async crypto.
   */
  maxConcurrent?: number;
  /** Most operations waiting for a slot; past it calls fail fast with `SERVICE_UNAVAILABLE`. Default 256. */
  maxQueue?: number;
}

/** A bcrypt string with the id of its pepper after it: `$2b$<cost>$<53 chars>$<key id>`. */
const PEPPERED = /^(\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53})\$([A-Za-z0-9_-]{8})$/;

/** The pepper's key id (undefined for a hash written before ids existed) and the bcrypt string. */
function parseStored(stored: string): { keyId: string | undefined; bcryptHash: string } {
  const m = PEPPERED.exec(stored);
  return m ? { keyId: m[2]!, bcryptHash: m[1]! } : { keyId: undefined, bcryptHash: stored };
}

/** A snapshot of the hasher's concurrency limiter. */
export interface PasswordHasherStats {
  /** bcrypt operations holding a slot. */
  running: number;
  /** Operations waiting for a slot, oldest first. */
  queued: number;
}

/** libuv's threadpool size: 4 unless UV_THREADPOOL_SIZE (1..1024) is set before the pool starts. */
function uvThreadpoolSize(): number {
  const n = Number(process.env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 1024) : 4;
}

/** The default cap: one bcrypt per core, leaving at least one libuv thread for other I/O. */
export function defaultMaxConcurrent(): number {
  return Math.max(1, Math.min(availableParallelism(), uvThreadpoolSize() - 1));
}

/**
 * A FIFO counting semaphore with a bounded queue. A released slot is handed straight to the oldest
 * waiter, so a newcomer can never overtake the queue (no starvation under sustained load).
 */
class Semaphore {
  #running = 0;
  // Array.shift is O(n), but n is bounded by maxQueue (default 256): simpler than a ring buffer.
  readonly #waiters: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.max) {
      this.#running++;
    } else {
      // Load shedding: a login flood would otherwise build an unbounded queue whose callers have all
      // timed out long before their turn, burning CPU on answers nobody reads.
      if (this.#waiters.length >= this.maxQueue) {
        throw new AppError('SERVICE_UNAVAILABLE', 'Too many sign-in attempts in progress, try again shortly');
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
      // The releaser handed us its slot without decrementing #running.
    }
    try {
      return await task();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#running--;
    }
  }

  stats(): PasswordHasherStats {
    return { running: this.#running, queued: this.#waiters.length };
  }
}

/**
 * bcrypt password hashing over a keyed pre-hash, with a bounded concurrency limiter.
 *
 * Stored format is a standard `$2b$<cost>$...` bcrypt string of
 * `base64(HMAC-SHA-384(pepper, utf8(NFKC(password))))` followed by `$<key id>` naming the pepper, so
 * APP_SECRET can rotate (a hash without an id, written before ids existed, uses the oldest pepper):
 * - the pre-hash is 64 ASCII bytes, under bcrypt's 72-byte limit and free of NUL bytes, so every
 *   byte of a long password counts and an embedded NUL cannot truncate the input;
 * - keying it with a pepper held outside the database means a stolen table alone cannot be attacked
 *   offline, and it cannot be "shucked" with hashes leaked elsewhere (as an unkeyed SHA pre-hash can);
 * - NFKC (as NIST SP 800-63B advises) makes the same typed password verify whichever way the
 *   keyboard/OS composed it (precomposed "é" vs "e" + combining accent), matching what the policy counts.
 */
export class PasswordHasher {
  readonly #peppers: KeyRing;
  readonly #cost: number;
  readonly #limiter: Semaphore;
  #dummyHash: Promise<string> | undefined;

  constructor(options: PasswordHasherOptions) {
    const { pepper, cost, maxConcurrent = defaultMaxConcurrent(), maxQueue = 256 } = options;
    const peppers = Buffer.isBuffer(pepper) ? [pepper] : pepper instanceof KeyRing ? pepper.all.map((k) => k.key) : [];
    // A short or empty pepper would silently turn the keyed pre-hash into a guessable one.
    if (peppers.length === 0 || peppers.some((p) => p.length < 16)) throw new Error('PasswordHasher: pepper must be at least 16 bytes');
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new Error('PasswordHasher: cost must be an integer from 4 to 31');
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new Error('PasswordHasher: maxConcurrent must be a positive integer');
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new Error('PasswordHasher: maxQueue must be a non-negative integer');
    this.#peppers = new KeyRing(peppers);
    this.#cost = cost;
    this.#limiter = new Semaphore(maxConcurrent, maxQueue);
  }

  /** The configured bcrypt cost. */
  get cost(): number {
    return this.#cost;
  }

  /**
   * Hashes a password for storage. Rejects with `AppError('SERVICE_UNAVAILABLE')` when the wait
   * queue is full. Does not check the policy: call `checkPasswordPolicy` first.
   */
  async hash(password: string): Promise<string> {
    const { id, key } = this.#peppers.current;
    const input = this.#preHash(key, password);
    return `${await this.#limiter.run(() => bcrypt.hash(input, this.#cost))}$${id}`;
  }

  /**
   * True when `password` matches `hash` (made by {@link hash} with a pepper still configured). A
   * malformed stored hash verifies false, and so does one whose pepper is no longer configured (after
   * the same bcrypt work, so the timing does not tell). Rejects with `SERVICE_UNAVAILABLE` when the
   * wait queue is full.
   */
  async verify(password: string, hash: string): Promise<boolean> {
    const { keyId, bcryptHash } = parseStored(hash);
    const pepper = keyId === undefined ? this.#peppers.legacy : this.#peppers.get(keyId);
    if (!pepper) return this.verifyDummy(password);
    const input = this.#preHash(pepper.key, password);
    return this.#limiter.run(() => bcrypt.compare(input, bcryptHash));
  }

  /**
   * Does the work of a failed {@link verify} and resolves `false`, for a login whose identifier
   * matches no account: without it, "unknown user" answers in microseconds and "wrong password" in
   * a bcrypt's time, and that gap tells an attacker which usernames/emails exist.
   */
  async verifyDummy(password: string): Promise<false> {
    const dummy = await this.#getDummyHash();
    await this.verify(password, dummy);
    return false;
  }

  /**
   * Makes the dummy hash now (e.g. at startup), so the first unknown-identifier login does not pay
   * for two bcrypt runs and stand out by its timing.
   */
  async warmUp(): Promise<void> {
    await this.#getDummyHash();
  }

  /**
   * True when a verified `hash` should be replaced with a fresh {@link hash} of the same password:
   * it was peppered with another key than the current one (APP_SECRET rotated, or no key id), its
   * cost differs from the configured one (raised or lowered), or its cost cannot be read.
   */
  needsRehash(hash: string): boolean {
    const { keyId, bcryptHash } = parseStored(hash);
    if (keyId !== this.#peppers.current.id) return true;
    try {
      return bcrypt.getRounds(bcryptHash) !== this.#cost;
    } catch {
      return true;
    }
  }

  /** Operations running and waiting, for metrics and tests. */
  stats(): PasswordHasherStats {
    return this.#limiter.stats();
  }

  #preHash(pepper: Buffer, password: string): string {
    if (typeof password !== 'string') throw new TypeError('password must be a string');
    return createHmac('sha384', pepper).update(password.normalize('NFKC'), 'utf8').digest('base64');
  }

  /** One dummy hash per instance, made lazily; concurrent first callers share one bcrypt run. */
  #getDummyHash(): Promise<string> {
    if (!this.#dummyHash) {
      // A random secret nobody knows: no password can match it, so verifyDummy never lets anyone in.
      const made = this.hash(randomBytes(32).toString('base64'));
      // A failure (e.g. shed under load) must not be cached forever: the next call tries again.
      made.catch(() => {
        if (this.#dummyHash === made) this.#dummyHash = undefined;
      });
      this.#dummyHash = made;
    }
    return this.#dummyHash;
  }
}
