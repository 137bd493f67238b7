import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { accountWithRole } from '../../test/admin-client.js';
import { bearer, codeOf, register, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';

const CREATE = 'mutation Create($name: String!) { createServiceKey(name: $name) { secret key { id name createdAt lastUsedAt revokedAt } } }';
const LIST = 'query { serviceKeys { id name createdAt lastUsedAt revokedAt } }';
const REVOKE = 'mutation Revoke($id: ID!) { revokeServiceKey(id: $id) }';
const REVOKE_SESSION = 'mutation R($id: ID!) { revokeSession(id: $id) }';

type Created = { createServiceKey: { secret: string; key: { id: string; name: string; revokedAt: string | null } } };

/** An introspection client nobody here wrote: openid-client's, configured as a resource server would be. */
function introspector(server: TestServer, keyId: string, secret: string) {
  const config = new oidc.Configuration({ issuer: server.config.http.publicUrl, introspection_endpoint: `${server.url}/oauth/introspect` }, keyId, undefined, oidc.ClientSecretBasic(secret));
  oidc.allowInsecureRequests(config); // the test servers speak plain HTTP on loopback
  return (token: string) => oidc.tokenIntrospection(config, token);
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

const introspectRaw = (server: TestServer, authorization: string | undefined, body = 'token=x', contentType = 'application/x-www-form-urlencoded') =>
  fetch(`${server.url}/oauth/introspect`, { method: 'POST', headers: { 'content-type': contentType, ...(authorization ? { authorization } : {}) }, body });

describe('service keys and POST /oauth/introspect', () => {
  const fx = useTestServers('introspect');
  let one: TestServer;
  let two: TestServer;
  let admin: Tokens;
  let key: { id: string; secret: string };

  const createKey = async (name: string, server: TestServer = one) => {
    const res = await gql<Created>(server, CREATE, { name }, bearer(admin.accessToken));
    expect(res.body.errors).toBeUndefined();
    return { id: res.body.data!.createServiceKey.key.id, secret: res.body.data!.createServiceKey.secret };
  };

  beforeAll(async () => {
    one = await fx.start();
    two = await fx.start();
    admin = await accountWithRole(one, 'ADMIN');
    key = await createKey('gateway');
  });

  describe('managing keys (GraphQL, ADMIN only)', () => {
    it('creates a key whose secret is shown once and stored only as its hash, with an audit entry', async () => {
      expect(key.secret).toMatch(/^lksk_[A-Za-z0-9_-]{43}$/);
      const row = await one.infra.prisma.serviceKey.findUniqueOrThrow({ where: { id: key.id } });
      expect(Buffer.from(row.secretHash).equals(createHash('sha256').update(key.secret).digest())).toBe(true);
      const listed = await gql<{ serviceKeys: Record<string, unknown>[] }>(one, LIST, undefined, bearer(admin.accessToken));
      expect(listed.body.data!.serviceKeys).toContainEqual(expect.objectContaining({ id: key.id, name: 'gateway', revokedAt: null }));
      expect(JSON.stringify(listed.body)).not.toContain(key.secret);
      const audit = await one.infra.prisma.auditEntry.findFirstOrThrow({ where: { action: 'service_key.created' } });
      expect(audit).toMatchObject({ actorId: admin.user.id, outcome: 'SUCCESS', details: { keyId: key.id, name: 'gateway' } });
      expect(JSON.stringify(audit)).not.toContain(key.secret);
      for (const l of [...one.logs, ...two.logs]) expect(l).not.toContain(key.secret);
    });

    it('refuses every operation to USER and SUPPORT accounts (FORBIDDEN) and to anonymous callers', async () => {
      for (const role of ['USER', 'SUPPORT'] as const) {
        const t = await accountWithRole(one, role);
        expect(codeOf((await gql(one, CREATE, { name: 'x' }, bearer(t.accessToken))).body)).toBe('FORBIDDEN');
        expect(codeOf((await gql(one, LIST, undefined, bearer(t.accessToken))).body)).toBe('FORBIDDEN');
        expect(codeOf((await gql(one, REVOKE, { id: key.id }, bearer(t.accessToken))).body)).toBe('FORBIDDEN');
      }
      expect(codeOf((await gql(one, LIST)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await gql(one, CREATE, { name: '' }, bearer(admin.accessToken))).body)).toBe('BAD_USER_INPUT');
    });
  });

  describe('introspection', () => {
    it('answers an active token with its claims, through openid-client', async () => {
      const user = await register(one);
      const claims = await introspector(one, key.id, key.secret)(user.accessToken);
      expect(claims).toMatchObject({
        active: true,
        sub: user.user.id,
        token_type: 'access_token',
        username: user.user.username,
        role: 'USER',
        iss: one.config.http.publicUrl,
        aud: 'latchkey',
      });
      expect(typeof claims.sid).toBe('string');
      expect(claims.exp! - claims.iat!).toBe(one.config.auth.accessTokenTtl);
    });

    it('sees a revocation made on another instance at once: active on 1, revoke on 2, inactive on 1', async () => {
      const user = await register(one);
      const onOne = introspector(one, key.id, key.secret);
      const first = await onOne(user.accessToken);
      expect(first.active).toBe(true);
      const revoked = await gql<{ revokeSession: boolean }>(two, REVOKE_SESSION, { id: first.sid }, bearer(user.accessToken));
      expect(revoked.body.data?.revokeSession).toBe(true);
      expect(await onOne(user.accessToken)).toEqual({ active: false });
    });

    it('answers only { active: false } for a forged, foreign, expired or malformed token', async () => {
      const user = await register(one);
      const ask = introspector(one, key.id, key.secret);
      const [head, payload] = user.accessToken.split('.');
      const tampered = `${head}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: admin.user.id })).toString('base64url')}.${user.accessToken.split('.')[2]}`;
      const foreign = await new SignJWT({ sid: crypto.randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setSubject(user.user.id).sign(new Uint8Array(32));
      for (const token of [tampered, foreign, 'not-a-token', user.refreshToken]) expect(await ask(token)).toEqual({ active: false });
    });

    it('answers 401 with a Basic challenge without valid credentials, before looking at the token', async () => {
      const user = await register(one);
      const body = `token=${user.accessToken}`;
      for (const authorization of [undefined, basic(key.id, `${key.secret.slice(0, -1)}${key.secret.endsWith('A') ? 'B' : 'A'}`), basic(crypto.randomUUID(), key.secret), 'Basic !!', `Bearer ${user.accessToken}`, basic(key.id, '')]) {
        const res = await introspectRaw(one, authorization, body);
        expect(res.status, String(authorization)).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
        const problem = (await res.json()) as Record<string, unknown>;
        expect(problem).toMatchObject({ code: 'UNAUTHENTICATED', error: 'invalid_client', status: 401 });
        expect(problem).not.toHaveProperty('active');
      }
      const ok = await introspectRaw(one, basic(key.id, key.secret), body);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('cache-control')).toBe('no-store');
    });

    it('takes only a form body with a token', async () => {
      expect((await introspectRaw(one, basic(key.id, key.secret), '', 'application/x-www-form-urlencoded')).status).toBe(400);
      expect((await introspectRaw(one, basic(key.id, key.secret), '{"token":"x"}', 'application/json')).status).toBe(415);
    });

    it('stops a revoked key at once on every instance (401), and audits the revocation', async () => {
      const k = await createKey('short-lived');
      expect((await introspectRaw(one, basic(k.id, k.secret))).status).toBe(200); // now cached as live
      const res = await gql<{ revokeServiceKey: boolean }>(two, REVOKE, { id: k.id }, bearer(admin.accessToken));
      expect(res.body.data?.revokeServiceKey).toBe(true);
      expect((await introspectRaw(one, basic(k.id, k.secret))).status).toBe(401);
      expect((await gql<{ revokeServiceKey: boolean }>(one, REVOKE, { id: k.id }, bearer(admin.accessToken))).body.data?.revokeServiceKey).toBe(false);
      expect(await one.infra.prisma.auditEntry.count({ where: { action: 'service_key.revoked', actorId: admin.user.id } })).toBe(1);
    });
  });
});

describe('introspection rate limit', () => {
  const fx = useTestServers('introspect-limit');

  it('limits each key on its own (RATE_LIMIT_INTROSPECT), whatever the IP', async () => {
    const server = await fx.start({ env: { RATE_LIMIT_INTROSPECT: '3/60' } });
    const admin = await accountWithRole(server, 'ADMIN');
    const make = async (name: string) => {
      const res = await gql<Created>(server, CREATE, { name }, bearer(admin.accessToken));
      return res.body.data!.createServiceKey;
    };
    const a = await make('a');
    const b = await make('b');
    for (let i = 0; i < 3; i++) expect((await introspectRaw(server, basic(a.key.id, a.secret))).status).toBe(200);
    const limited = await introspectRaw(server, basic(a.key.id, a.secret));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await introspectRaw(server, basic(b.key.id, b.secret))).status).toBe(200);
    // Wrong secrets for a's id spend nothing of b's budget and cannot be told from an unknown key.
    expect((await introspectRaw(server, basic(b.key.id, a.secret))).status).toBe(401);
  });
});
