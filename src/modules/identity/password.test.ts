import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHmac } from 'node:crypto';
import { AppSecrets, deriveKey } from '../../infra/crypto/secrets.js';
import { AppError } from '../../infra/errors.js';
import { serviceNamesOf } from './password-policy.js';
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

/** 128 distinct-looking characters: no repetition, no run. */
const LONG_128 = Array.from({ length: 128 }, (_, i) => 'xk7#pQ2mZ9!vBt4@'[(i * 7 + Math.floor(i / 16)) % 16]).join('');
/** 128 emoji, each 2 UTF-16 units, none next to its neighbour in Unicode. */
const EMOJI_128 = Array.from({ length: 128 }, (_, i) => String.fromCodePoint(0x1f300 + ((i * 37) % 256))).join('');

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
    // 128 characters that repeat nothing (a repeated filler is now refused as a pattern).
    ok(LONG_128);
    expect(policyError(`${LONG_128}x`).code).toBe('WEAK_PASSWORD');
  });

  it('counts code points, not UTF-16 units or bytes', () => {
    // Seven emoji are 14 UTF-16 units and 28 UTF-8 bytes, still only 7 characters.
    expect(policyError('🔐🦊🌈🎲🚀🍀🐙').code).toBe('WEAK_PASSWORD');
    ok('🔐🦊🌈🎲🚀🍀🐙🎯');
    ok(EMOJI_128);
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

describe('checkPasswordPolicy: context words and patterns', () => {
  const ok = (password: string, opts: PasswordPolicyOptions = { minLength: 8 }): void => {
    expect(() => checkPasswordPolicy(password, opts)).not.toThrow();
  };
  const context = ['Alice_Smith', 'alice.wonder@Example.com'];

  it('refuses the service name, the username or the email local part with a few characters around them', () => {
    for (const p of ['Latchkey2024!', 'my-latchkey', 'ＬＡＴＣＨＫＥＹ１２３', 'latchkeylatchkey', 'LATCHKEY-password']) {
      expect(policyError(p).code, p).toBe('WEAK_PASSWORD');
    }
    for (const p of ['Alice_Smith!!', 'alice_smith2024', 'wonder1987!', 'xxAlice99', 'alice.wonder.1', 'smithalice12']) {
      expect(policyError(p, { minLength: 8, context }).code, p).toBe('WEAK_PASSWORD');
    }
  });

  it("refuses the deployment's own names (MFA_ISSUER, EMAIL_FROM's display name)", () => {
    const serviceNames = serviceNamesOf('Acme Identity', '"Acme Corp" <no-reply@acme.test>');
    expect(serviceNames).toEqual(['Acme Identity', 'Acme Corp']);
    for (const p of ['AcmeIdentity1', 'acme identity!', 'identity-2024', 'acme corp 42']) {
      expect(policyError(p, { minLength: 8, serviceNames }).code, p).toBe('WEAK_PASSWORD');
    }
    expect(serviceNamesOf('Latchkey', 'no-reply@example.com')).toEqual(['Latchkey']);
  });

  it('accepts a context word when what is left is a password on its own; short parts are not looked for', () => {
    ok('alice_smith_2031_tulips', { minLength: 8, context });
    ok('latchkey: violet kayak sunrise', { minLength: 8 });
    // "bo" (a 2-letter username) and the email's domain are not context words.
    ok('bonfire-at-dusk', { minLength: 8, context: ['bo', 'zed@bonfire.example'] });
  });

  it('judges what is left against the floor, the common list and the patterns', () => {
    expect(policyError('latchkey-password1').code).toBe('WEAK_PASSWORD'); // common once the name is out
    expect(policyError('alice_smith12345678', { minLength: 8, context }).code).toBe('WEAK_PASSWORD'); // a sequence
    expect(policyError('wonder-xk7#pQ2', { minLength: 8, context }).code).toBe('WEAK_PASSWORD'); // 7 left once the dash goes
    ok('wonder-xk7#pQ2m', { minLength: 8, context });
  });

  it('refuses trivial repetition and sequences', () => {
    for (const p of ['aaaaaaaa', 'zzzzzzzzzzzzzzzz', 'abcabcabc', 'xyzxyzxyzxyz', '12345678', '98765432', 'abcdefghij', 'abcd1234', '11112222', 'Zq9!Zq9!Zq9!Zq9!', '🔐🔐🔐🔐🔐🔐🔐🔐']) {
      expect(policyError(p).code, p).toBe('WEAK_PASSWORD');
    }
    // A strong unit repeated is as strong as the unit: accepted.
    ok('xk7#pQ2mxk7#pQ2m');
    ok('plum7otter');
  });

  it('reports which rule under fields, never the password', () => {
    const e = policyError('mylatchkey1', { minLength: 8, field: 'newPassword' });
    expect(Object.keys(e.fields ?? {})).toEqual(['newPassword']);
    expect(e.message).not.toContain('mylatchkey1');
  });
});

describe('PasswordHasher across an APP_SECRET rotation', () => {
  const A = 'password-secret-A'.padEnd(40, 'a');
  const B = 'password-secret-B'.padEnd(40, 'b');
  const before = new PasswordHasher({ pepper: new AppSecrets(A).ring('password-pepper'), cost: COST });
  const after = new PasswordHasher({ pepper: new AppSecrets(B, [A]).ring('password-pepper'), cost: COST });

  it('names the pepper after the bcrypt string', async () => {
    const hash = await before.hash('rotating password');
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}\$[A-Za-z0-9_-]{8}$/);
    expect(hash.slice(-8)).toBe(new AppSecrets(A).ring('password-pepper').current.id);
  });

  it('verifies a hash made with the previous secret, asks for a rehash, and the rehash names the new pepper', async () => {
    const old = await before.hash('rotating password');
    expect(await after.verify('rotating password', old)).toBe(true);
    expect(await after.verify('wrong password', old)).toBe(false);
    expect(after.needsRehash(old)).toBe(true);
    const fresh = await after.hash('rotating password');
    expect(after.needsRehash(fresh)).toBe(false);
    expect(fresh.slice(-8)).toBe(new AppSecrets(B).ring('password-pepper').current.id);
    // The previous secret dropped: its hashes no longer verify (after the same bcrypt work).
    const dropped = new PasswordHasher({ pepper: new AppSecrets(B).ring('password-pepper'), cost: COST });
    expect(await dropped.verify('rotating password', old)).toBe(false);
    expect(await dropped.verify('rotating password', fresh)).toBe(true);
  });

  it('verifies a hash written before key ids existed with the oldest pepper, and asks for a rehash', async () => {
    const legacyInput = createHmac('sha384', deriveKey(A, 'password-pepper')).update('rotating password').digest('base64');
    const legacy = await bcrypt.hash(legacyInput, COST);
    expect(await before.verify('rotating password', legacy)).toBe(true);
    expect(before.needsRehash(legacy)).toBe(true);
    expect(await after.verify('rotating password', legacy)).toBe(true);
    expect(await after.verify('wrong password', legacy)).toBe(false);
  });
});
