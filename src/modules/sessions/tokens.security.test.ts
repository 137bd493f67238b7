import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../infra/crypto/keys.js';
import { codeOf, me, register } from '../../test/auth-client.js';
import { useTestServers, type ProxiedLink, type TestServer } from '../../test/harness.js';

/** Order of the P-256 group: (r, s) and (r, n − s) are both valid ECDSA signatures. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (jwt: string) => {
  const [h, p, s] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()), h: h!, p: p!, s: s! };
};

describe('access tokens', () => {
  const fx = useTestServers('tokens');
  let oldKey: Awaited<ReturnType<typeof generateSigningJwk>>;
  let newKey: Awaited<ReturnType<typeof generateSigningJwk>>;
  let server: TestServer; // signs with the old key
  let rotated: TestServer; // [new, old]: new signs, both verify
  let retired: TestServer; // [new] only
  let redisProxy: ProxiedLink;
  let viaProxy: TestServer; // reaches Redis through a cuttable link

  beforeAll(async () => {
    [oldKey, newKey] = [await generateSigningJwk(), await generateSigningJwk()];
    const keys = (...k: object[]) => ({ JWT_PRIVATE_KEYS: JSON.stringify({ keys: k }) });
    server = await fx.start({ env: keys(oldKey) });
    rotated = await fx.start({ env: keys(newKey, oldKey) });
    retired = await fx.start({ env: keys(newKey) });
    redisProxy = await fx.redisProxy();
    viaProxy = await fx.start({ env: { ...keys(oldKey), REDIS_URL: redisProxy.url } });
  });

  it('is an ES256 JWT with kid and the contract claims, verifiable with node:crypto against the JWKS', async () => {
    const t = await register(server);
    const { header, payload, h, p, s } = parts(t.accessToken);
    // RFC 9068 access-token type (was the generic `JWT`).
    expect(header).toMatchObject({ alg: 'ES256', kid: oldKey.kid, typ: 'at+jwt' });
    expect(payload).toMatchObject({ iss: server.config.http.publicUrl, aud: 'latchkey', sub: t.user.id });
    expect(payload.sid).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.exp - payload.iat).toBe(900);

    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const jwk = jwks.keys.find((k) => k.kid === header.kid)!;
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    const ok = cryptoVerify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
    expect(ok).toBe(true);
  });

  it('refuses alg:none, a tampered payload, a foreign signature, wrong audience and expiry', async () => {
    const t = await register(server);
    const { header, payload, h, s } = parts(t.accessToken);
    const forged = [
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`,
      `${b64({ ...header, alg: 'none' })}.${b64(payload)}.${s}`,
      `${h}.${b64({ ...payload, sub: '00000000-0000-4000-8000-000000000000' })}.${s}`,
      `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}.${s}`,
      `${h}.${b64({ ...payload, aud: 'someone-else' })}.${s}`,
      `${h}.${b64({ ...payload, exp: payload.iat - 1 })}.${s}`,
      t.accessToken.slice(0, -4) + (t.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA'),
    ];
    for (const token of forged) expect(codeOf((await me(server, token)).body), token).toBe('UNAUTHENTICATED');
    // A real token for another issuer's key set (the retired server never knew the old key).
    expect(codeOf((await me(retired, t.accessToken)).body)).toBe('UNAUTHENTICATED');
  });

  /** A token signed with the server's own key (low-S, as the server signs): only the rules beyond the signature can refuse it. */
  async function signWithServerKey(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
    const key = await importJWK(oldKey, 'ES256');
    const [h, p, s] = (await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: oldKey.kid, ...header }).sign(key)).split('.');
    const sig = Buffer.from(s!, 'base64url');
    const sValue = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const low = sValue > P256_N / 2n ? Buffer.from((P256_N - sValue).toString(16).padStart(64, '0'), 'hex') : sig.subarray(32);
    return `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), low]).toString('base64url')}`;
  }

  it('requires typ at+jwt: a JWT of another type from the same key is refused', async () => {
    const t = await register(server);
    const { payload } = parts(t.accessToken);
    const control = await signWithServerKey({ typ: 'at+jwt' }, payload);
    expect((await me(server, control)).body.data?.me.id).toBe(t.user.id);
    for (const typ of ['JWT', 'id+jwt', undefined]) {
      const token = await signWithServerKey(typ === undefined ? {} : { typ }, payload);
      expect(codeOf((await me(server, token)).body), String(typ)).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a token issued in the future, or older than the access-token TTL, even when exp says otherwise', async () => {
    const t = await register(server);
    const { payload } = parts(t.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const future = await signWithServerKey({ typ: 'at+jwt' }, { ...payload, iat: now + 3600, exp: now + 3600 + 900 });
    const stale = await signWithServerKey({ typ: 'at+jwt' }, { ...payload, iat: now - 1000, exp: now + 3600 });
    expect(codeOf((await me(server, future)).body)).toBe('UNAUTHENTICATED');
    expect(codeOf((await me(server, stale)).body)).toBe('UNAUTHENTICATED');
  });

  it('signs only low-S signatures and refuses the high-S twin of a valid token', async () => {
    const t = await register(server);
    const { h, p, s } = parts(t.accessToken);
    const sig = Buffer.from(s, 'base64url');
    const lowS = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    expect(lowS <= P256_N / 2n).toBe(true);
    const highS = Buffer.from((P256_N - lowS).toString(16).padStart(64, '0'), 'hex');
    const twin = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), highS]).toString('base64url')}`;
    // The twin is a valid ECDSA signature (node accepts it): only the low-S rule refuses it.
    const jwk = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const publicKey = createPublicKey({ key: jwk.keys.find((k) => k.kid === oldKey.kid)!, format: 'jwk' });
    expect(cryptoVerify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.concat([sig.subarray(0, 32), highS]))).toBe(true);
    expect(codeOf((await me(server, twin)).body)).toBe('UNAUTHENTICATED');
    expect((await me(server, t.accessToken)).body.data?.me.id).toBe(t.user.id);
  });

  it('rotates keys without logging anyone out: old tokens verify while their key is listed, new ones use the first key', async () => {
    const before = await register(server);
    expect((await me(rotated, before.accessToken)).body.data?.me.id).toBe(before.user.id);
    const after = await register(rotated);
    expect(parts(after.accessToken).header.kid).toBe(newKey.kid);
    expect((await me(retired, after.accessToken)).body.data?.me.id).toBe(after.user.id);
    const jwks = (await (await fetch(`${rotated.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKey.kid, oldKey.kid]);
  });

  it('answers SERVICE_UNAVAILABLE, never a pass, while Redis is down', async () => {
    const t = await register(viaProxy);
    expect((await me(viaProxy, t.accessToken)).body.data?.me.id).toBe(t.user.id); // signature now cached in-process
    redisProxy.cut();
    try {
      const res = await me(viaProxy, t.accessToken);
      expect(codeOf(res.body)).toBe('SERVICE_UNAVAILABLE');
      expect(res.body.data ?? null).toBeNull();
      expect(viaProxy.logs.some((l) => l.includes('"msg":"dependency unavailable"'))).toBe(true);
    } finally {
      redisProxy.restore();
    }
  });

  it('never logs a password or a token', async () => {
    const t = await register(server);
    await me(server, t.accessToken);
    await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: t.refreshToken }) });
    const logs = [server, rotated, retired, viaProxy].flatMap((s) => s.logs).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [t.password, t.accessToken, t.refreshToken, t.accessToken.split('.')[2]!]) expect(logs).not.toContain(secret);
  });
});
