import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSigningJwk, loadSigningKeys } from '../../infra/crypto/keys.js';
import { AppError } from '../../infra/errors.js';
import { AccessTokens, CLOCK_SKEW_SECONDS } from './access-token.js';

const P256_HALF_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;
const keys = await loadSigningKeys(JSON.stringify({ keys: [await generateSigningJwk()] }));
const TTL = 900;
const T0 = Date.UTC(2030, 0, 1);

/** Tokens issued on one instance's clock and verified on another's. */
const at = (ms: number) => new AccessTokens(keys, { issuer: 'https://auth.test', ttlSeconds: TTL, now: () => ms });
const refusal = async (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (e instanceof AppError ? e.code : String(e)));

describe('AccessTokens', () => {
  it('always signs the low-S form (WebCrypto alone gives a high S about half the time)', async () => {
    const signer = at(T0);
    for (let i = 0; i < 64; i++) {
      const token = await signer.sign(randomUUID(), randomUUID());
      const sig = Buffer.from(token.split('.')[2]!, 'base64url');
      expect(sig).toHaveLength(64);
      expect(BigInt(`0x${sig.subarray(32).toString('hex')}`) <= P256_HALF_N).toBe(true);
      expect((await signer.verify(token)).exp).toBe(T0 / 1000 + TTL);
    }
  });

  it('tolerates a few seconds of skew between instances, and refuses an iat further ahead', async () => {
    const token = await at(T0).sign(randomUUID(), randomUUID());
    expect(await refusal(at(T0 - CLOCK_SKEW_SECONDS * 1000).verify(token))).toBe('accepted');
    expect(await refusal(at(T0 - (CLOCK_SKEW_SECONDS + 2) * 1000).verify(token))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token past its exp, and one signed under a longer TTL once it is older than the current TTL', async () => {
    const token = await at(T0).sign(randomUUID(), randomUUID());
    expect(await refusal(at(T0 + (TTL + CLOCK_SKEW_SECONDS + 1) * 1000).verify(token))).toBe('UNAUTHENTICATED');
    const longLived = await new AccessTokens(keys, { issuer: 'https://auth.test', ttlSeconds: 4 * TTL, now: () => T0 }).sign(randomUUID(), randomUUID());
    expect(await refusal(at(T0 + 2 * TTL * 1000).verify(longLived))).toBe('UNAUTHENTICATED');
    expect(await refusal(at(T0 + (TTL - 60) * 1000).verify(longLived))).toBe('accepted');
  });
});
