import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sealer } from './sealed.js';
import { AppSecrets, KeyRing } from './secrets.js';

/** What Sealer wrote before key ids existed: `v1.<iv>.<tag>.<ciphertext>`. */
function sealV1(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ct].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

describe('Sealer', () => {
  const sealer = new Sealer(randomBytes(32));

  it('round-trips and never shows the plaintext', () => {
    const sealed = sealer.seal('token-abc', 'row-1');
    expect(sealed).not.toContain('token-abc');
    // v2 since the format names its key (was v1 without one).
    expect(sealed.startsWith('v2.')).toBe(true);
    expect(sealer.open(sealed, 'row-1')).toBe('token-abc');
    expect(sealer.seal('token-abc', 'row-1')).not.toBe(sealed); // fresh IV each time
  });

  it('refuses tampering, another context and another key', () => {
    const sealed = sealer.seal('token-abc', 'row-1');
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[4]!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => sealer.open([...parts.slice(0, 4), flipped.toString('base64url')].join('.'), 'row-1')).toThrow();
    expect(() => sealer.open(sealed, 'row-2')).toThrow();
    expect(() => new Sealer(randomBytes(32)).open(sealed, 'row-1')).toThrow();
    expect(() => sealer.open('garbage')).toThrow();
  });

  it('refuses a truncated authentication tag', () => {
    const parts = sealer.seal('token-abc', 'row-1').split('.');
    const short = Buffer.from(parts[3]!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => sealer.open([parts[0], parts[1], parts[2], short, parts[4]].join('.'), 'row-1')).toThrow();
  });
});

describe('Sealer across an APP_SECRET rotation', () => {
  const A = 'secret-A-'.padEnd(40, 'a');
  const B = 'secret-B-'.padEnd(40, 'b');
  const before = new Sealer(new AppSecrets(A).ring('data-encryption'));
  const after = new Sealer(new AppSecrets(B, [A]).ring('data-encryption'));

  it('names the sealing key: the new secret seals, the previous one still opens its own values', () => {
    const old = before.seal('totp-secret', 'totp:u1');
    const fresh = after.seal('totp-secret', 'totp:u1');
    expect(old.split('.')[1]).not.toBe(fresh.split('.')[1]);
    expect(fresh.split('.')[1]).toBe(new AppSecrets(B).ring('data-encryption').current.id);
    expect(after.open(old, 'totp:u1')).toBe('totp-secret');
    expect(after.open(fresh, 'totp:u1')).toBe('totp-secret');
    // Once A is dropped, what it sealed no longer opens.
    expect(() => new Sealer(new AppSecrets(B).ring('data-encryption')).open(old, 'totp:u1')).toThrow();
  });

  it('opens values written before key ids existed with the oldest configured key', () => {
    const legacy = sealV1(new AppSecrets(A).ring('data-encryption').current.key, 'link-token', 'row-9');
    expect(before.open(legacy, 'row-9')).toBe('link-token');
    expect(after.open(legacy, 'row-9')).toBe('link-token');
    expect(new Sealer(new AppSecrets('secret-C-'.padEnd(40, 'c'), [B, A]).ring('data-encryption')).open(legacy, 'row-9')).toBe('link-token');
  });

  it('refuses a key ring listing one key twice', () => {
    const k = randomBytes(32);
    expect(() => new KeyRing([k, Buffer.from(k)])).toThrow();
  });
});
