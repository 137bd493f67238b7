import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sealer } from './sealed.js';

describe('Sealer', () => {
  const sealer = new Sealer(randomBytes(32));

  it('round-trips and never shows the plaintext', () => {
    const sealed = sealer.seal('token-abc', 'row-1');
    expect(sealed).not.toContain('token-abc');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(sealer.open(sealed, 'row-1')).toBe('token-abc');
    expect(sealer.seal('token-abc', 'row-1')).not.toBe(sealed); // fresh IV each time
  });

  it('refuses tampering, another context and another key', () => {
    const sealed = sealer.seal('token-abc', 'row-1');
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3]!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => sealer.open([parts[0], parts[1], parts[2], flipped.toString('base64url')].join('.'), 'row-1')).toThrow();
    expect(() => sealer.open(sealed, 'row-2')).toThrow();
    expect(() => new Sealer(randomBytes(32)).open(sealed, 'row-1')).toThrow();
    expect(() => sealer.open('garbage')).toThrow();
  });
});
