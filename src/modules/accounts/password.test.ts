import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deriveKey } from '../../infra/crypto/secrets.js';
import { AppError } from '../../infra/errors.js';
import { checkPasswordPolicy, PasswordHasher, type PasswordPolicyOptions } from './password.js';

const COST = 4;
const pepper = deriveKey('unit-test-app-secret-of-at-least-32-bytes', 'password-pepper');
const hasher = new PasswordHasher({ pepper, cost: COST });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PasswordHasher', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await hasher.verify('correct horse battery staple', hash)).toBe(true);
    expect(await hasher.verify('correct horse battery stapler', hash)).toBe(false);
    expect(await hasher.verify('', hash)).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    expect(await hasher.hash('same password')).not.toBe(await hasher.hash('same password'));
  });

  it('counts bytes past 72: passwords differing only at byte 73 do not verify against each other', async () => {
    const a = `${'a'.repeat(72)}X`;
    const b = `${'a'.repeat(72)}Y`;
    // The threat: plain bcrypt ignores everything past 72 bytes and would accept b for a.
    expect(await bcrypt.compare(b, await bcrypt.hash(a, COST))).toBe(true);
    const hash = await hasher.hash(a);
    expect(await hasher.verify(a, hash)).toBe(true);
    expect(await hasher.verify(b, hash)).toBe(false);
  });

  it('counts everything after a NUL byte', async () => {
    const hash = await hasher.hash('prefix\u0000suffix-part');
    expect(await hasher.verify('prefix', hash)).toBe(false);
    expect(await hasher.verify('prefix\u0000', hash)).toBe(false);
    expect(await hasher.verify('prefix\u0000suffix-part', hash)).toBe(true);
    const prefixHash = await hasher.hash('prefix');
    expect(await hasher.verify('prefix\u0000suffix-part', prefixHash)).toBe(false);
  });

  it('verifies the same text whichever Unicode composition was typed (NFKC)', async () => {
    const hash = await hasher.hash('caf\u00e9 au lait'); // precomposed é
    expect(await hasher.verify('cafe\u0301 au lait', hash)).toBe(true); // e + combining acute
  });

  it('depends on the pepper: another pepper does not verify', async () => {
    const hash = await hasher.hash('peppered password');
    const other = new PasswordHasher({ pepper: randomBytes(32), cost: COST });
    expect(await other.verify('peppered password', hash)).toBe(false);
  });

  it('verifies a malformed stored hash as false', async () => {
    expect(await hasher.verify('whatever', 'not-a-bcrypt-hash')).toBe(false);
  });

  it('needsRehash is true only when the stored cost differs from the configured one', async () => {
    const hash = await hasher.hash('rehash me');
    expect(hasher.needsRehash(hash)).toBe(false);
    expect(new PasswordHasher({ pepper, cost: 5 }).needsRehash(hash)).toBe(true);
    expect(hasher.needsRehash(await new PasswordHasher({ pepper, cost: 5 }).hash('x'))).toBe(true);
    expect(hasher.needsRehash('garbage')).toBe(true);
  });

  it('verifyDummy returns false against a cached dummy hash at the configured cost', async () => {
    const h = new PasswordHasher({ pepper, cost: COST });
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await h.verifyDummy('anything')).toBe(false);
    expect(await h.verifyDummy('anything else')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(2);
    const [first, second] = compare.mock.calls.map((c) => c[1]);
    expect(typeof first).toBe('string');
    expect(bcrypt.getRounds(first as string)).toBe(COST);
    expect(second).toBe(first); // made once, cached
  });

  it('verifyDummy does a bcrypt run like a real verify (sanity check only, no timing assertion)', async () => {
    const h = new PasswordHasher({ pepper, cost: COST });
    await h.warmUp();
    const hash = await h.hash('real password');
    let t = performance.now();
    await h.verify('wrong password', hash);
    const real = performance.now() - t;
    t = performance.now();
    await h.verifyDummy('wrong password');
    const dummy = performance.now() - t;
    expect(real).toBeGreaterThan(0);
    expect(dummy).toBeGreaterThan(0);
  });

  it('never runs more than maxConcurrent bcrypt operations at once', async () => {
    const h = new PasswordHasher({ pepper, cost: COST, maxConcurrent: 2 });
    // Count what actually reaches bcrypt, independently of the limiter's own counter.
    const realHash = bcrypt.hash.bind(bcrypt) as (data: string, rounds: number) => Promise<string>;
    let inFlight = 0;
    let maxInFlight = 0;
    vi.spyOn(bcrypt, 'hash').mockImplementation(async (data: string | Buffer, rounds: string | number) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await realHash(String(data), Number(rounds));
      } finally {
        inFlight--;
      }
    });

    let maxRunning = 0;
    let maxQueued = 0;
    const sample = (): void => {
      const s = h.stats();
      maxRunning = Math.max(maxRunning, s.running);
      maxQueued = Math.max(maxQueued, s.queued);
    };
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => h.hash(`password number ${i}`)));
    sample();
    const poll = setInterval(sample, 1);
    const hashes = await all;
    clearInterval(poll);

    expect(hashes).toHaveLength(20);
    expect(maxInFlight).toBe(2);
    expect(maxRunning).toBe(2);
    expect(maxQueued).toBe(18);
    expect(h.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('serves waiters in FIFO order', async () => {
    const h = new PasswordHasher({ pepper, cost: COST, maxConcurrent: 1 });
    const done: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => h.hash(`p${i}`).then(() => done.push(i))));
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('sheds load past maxQueue with SERVICE_UNAVAILABLE, then recovers', async () => {
    const h = new PasswordHasher({ pepper, cost: COST, maxConcurrent: 1, maxQueue: 3 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => h.hash(`p${i}`)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    for (const r of results.slice(4)) {
      expect(r.status === 'rejected' && r.reason instanceof AppError && r.reason.code).toBe('SERVICE_UNAVAILABLE');
    }
    expect(h.stats()).toEqual({ running: 0, queued: 0 });
    expect(await h.verify('p0', (results[0] as PromiseFulfilledResult<string>).value)).toBe(true);
  });

  it('rejects unsafe construction options', () => {
    expect(() => new PasswordHasher({ pepper: Buffer.alloc(0), cost: COST })).toThrow(/pepper/);
    expect(() => new PasswordHasher({ pepper, cost: 3 })).toThrow(/cost/);
    expect(() => new PasswordHasher({ pepper, cost: COST, maxConcurrent: 0 })).toThrow(/maxConcurrent/);
  });
});

/** The thrown AppError, or a failure if none was thrown. */
function policyError(password: string, opts: PasswordPolicyOptions = { minLength: 8 }): AppError {
  try {
    checkPasswordPolicy(password, opts);
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected WEAK_PASSWORD, but the password was accepted');
}

describe('checkPasswordPolicy', () => {
  const ok = (password: string, opts: PasswordPolicyOptions = { minLength: 8 }): void => {
    expect(() => checkPasswordPolicy(password, opts)).not.toThrow();
  };

  it('enforces 8 to 128 code points', () => {
    expect(policyError('xk7#pQ2').code).toBe('WEAK_PASSWORD');
    ok('xk7#pQ2m');
    ok('Zq9!'.repeat(32));
    expect(policyError(`${'Zq9!'.repeat(32)}x`).code).toBe('WEAK_PASSWORD');
  });

  it('counts code points, not UTF-16 units or bytes', () => {
    // Seven emoji are 14 UTF-16 units and 28 UTF-8 bytes, still only 7 characters.
    expect(policyError('🔐🦊🌈🎲🚀🍀🐙').code).toBe('WEAK_PASSWORD');
    ok('🔐🦊🌈🎲🚀🍀🐙🎯');
    ok('🔐'.repeat(128));
    expect(policyError('🔐'.repeat(129)).code).toBe('WEAK_PASSWORD');
  });

  it('honours a higher minLength but never goes below 8', () => {
    expect(policyError('xk7#pQ2mZ', { minLength: 12 }).message).toMatch(/at least 12/);
    expect(policyError('xk7#pQ', { minLength: 4 }).message).toMatch(/at least 8/);
  });

  it('rejects common passwords, case-insensitively and after NFKC', () => {
    for (const p of ['password1', '123456789', 'qwertyuiop', 'PassWord1', 'ｐａｓｓｗｏｒｄ１']) {
      expect(policyError(p).message, p).toMatch(/too common/);
    }
  });

  it('rejects the username, the email and its local part, case-insensitively', () => {
    const context = ['Alice_Smith', 'alice.wonder@Example.com'];
    expect(policyError('alice_smith', { minLength: 8, context }).message).toMatch(/username or email/);
    expect(policyError('ALICE.WONDER@example.com', { minLength: 8, context }).code).toBe('WEAK_PASSWORD');
    expect(policyError('Alice.Wonder', { minLength: 8, context }).code).toBe('WEAK_PASSWORD');
    ok('alice_smith_2031_tulips', { minLength: 8, context });
  });

  it('reports WEAK_PASSWORD with the message under fields.password, or the given field', () => {
    const e = policyError('short');
    expect(e.code).toBe('WEAK_PASSWORD');
    expect(e.fields).toEqual({ password: e.message });
    const f = policyError('qwertyuiop', { minLength: 8, field: 'newPassword' });
    expect(f.fields).toEqual({ newPassword: f.message });
    expect(f.message).not.toContain('qwertyuiop');
  });
});
