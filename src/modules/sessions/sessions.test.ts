import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, codeOf, login, me, newIdentity, refresh, register, rest } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';

const SESSIONS = 'query S { sessions { id createdAt lastUsedAt expiresAt ip userAgent current } }';

describe('SessionsService through its doors', () => {
  const fx = useTestServers('sessions');
  let server: TestServer;
  let second: TestServer; // another instance on the same database and Redis: revocation must reach it at once

  beforeAll(async () => {
    server = await fx.start();
    second = await fx.start();
  });

  describe('refresh', () => {
    it('rotates: a new pair each time, and the new access token works', async () => {
      const a = await register(server);
      const b = (await refresh(server, a.refreshToken)).body.data!.refresh;
      expect(b.refreshToken).not.toBe(a.refreshToken);
      expect(b.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(b.user.id).toBe(a.user.id);
      expect((await me(server, b.accessToken)).body.data?.me.id).toBe(a.user.id);
      const c = (await refresh(server, b.refreshToken)).body.data!.refresh;
      expect((await me(server, c.accessToken)).body.data?.me.id).toBe(a.user.id);
    });

    it('reuse: a used token answers REFRESH_TOKEN_REUSED and kills the whole session, old and new tokens alike', async () => {
      const a = await register(server);
      const b = (await refresh(server, a.refreshToken)).body.data!.refresh;
      const replay = await gql(server, 'mutation R($t: String!) { refresh(refreshToken: $t) { accessToken } }', { t: a.refreshToken }, { 'x-request-id': `replay-${a.user.id}` });
      expect(codeOf(replay.body)).toBe('REFRESH_TOKEN_REUSED');
      // The service's own warning carries the request's id, like every line of that request.
      const warning = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'refresh token reuse: session revoked' && l.userId === a.user.id);
      expect(warning?.requestId).toBe(`replay-${a.user.id}`);
      expect(codeOf((await refresh(server, b.refreshToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(server, a.refreshToken)).body)).toMatch(/^(UNAUTHENTICATED|REFRESH_TOKEN_REUSED)$/);
      expect(codeOf((await me(server, b.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await me(second, a.accessToken)).body)).toBe('UNAUTHENTICATED');
      const events = await server.infra.prisma.securityEvent.findMany({ where: { userId: a.user.id }, select: { type: true } });
      expect(events.map((e) => e.type)).toContain('REFRESH_TOKEN_REUSED');
    });

    it('race: two refreshes with the same token, exactly one gets a new pair', async () => {
      for (let round = 0; round < 5; round++) {
        const a = await register(server);
        const results = await Promise.all([refresh(server, a.refreshToken), refresh(second, a.refreshToken)]);
        const winners = results.filter((r) => r.body.data?.refresh);
        expect(winners).toHaveLength(1);
        expect(codeOf(results.find((r) => !r.body.data?.refresh)!.body)).toMatch(/^(REFRESH_TOKEN_REUSED|UNAUTHENTICATED)$/);
      }
    });

    it('refuses unknown, malformed and empty tokens as UNAUTHENTICATED or BAD_USER_INPUT, never 500', async () => {
      expect(codeOf((await refresh(server, 'A'.repeat(43))).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(server, 'not a token')).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(server, '')).body)).toBe('BAD_USER_INPUT');
    });

    it('refuses a token whose session was revoked with UNAUTHENTICATED', async () => {
      const a = await register(server);
      await gql(server, 'mutation { logout }', undefined, bearer(a.accessToken));
      expect(codeOf((await refresh(server, a.refreshToken)).body)).toBe('UNAUTHENTICATED');
    });

    it('honours the absolute lifetime and the idle timeout', async () => {
      const a = await register(server);
      await server.infra.prisma.session.updateMany({ where: { userId: a.user.id }, data: { idleExpiresAt: new Date(Date.now() - 1000) } });
      expect(codeOf((await refresh(server, a.refreshToken)).body)).toBe('UNAUTHENTICATED');
      const b = await register(server);
      await server.infra.prisma.refreshToken.updateMany({ where: { session: { userId: b.user.id } }, data: { expiresAt: new Date(Date.now() - 1000) } });
      expect(codeOf((await refresh(server, b.refreshToken)).body)).toBe('UNAUTHENTICATED');
    });

    it('stores only SHA-256 hashes of refresh tokens', async () => {
      const a = await register(server);
      const rows = await server.infra.prisma.refreshToken.findMany({ where: { session: { userId: a.user.id } } });
      expect(rows).toHaveLength(1);
      expect(rows[0]!.tokenHash.length).toBe(32);
      expect(Buffer.from(rows[0]!.tokenHash).toString('utf8')).not.toContain(a.refreshToken);
    });
  });

  describe('logout and revocation take effect at once, on every instance', () => {
    it('logout kills this session only', async () => {
      const id = newIdentity('out');
      const a = await register(server, id);
      const b = (await login(server, id.username, id.password)).body.data!.login;
      expect((await gql(server, 'mutation { logout }', undefined, bearer(a.accessToken))).body.data).toEqual({ logout: true });
      expect(codeOf((await me(server, a.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await me(second, a.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect((await me(second, b.accessToken)).body.data?.me.id).toBe(a.user.id);
    });

    it('logout(allSessions: true) kills every session of the user', async () => {
      const id = newIdentity('outall');
      const a = await register(server, id);
      const b = (await login(server, id.username, id.password)).body.data!.login;
      await me(second, b.accessToken); // warm the other instance's caches first
      await gql(server, 'mutation { logout(allSessions: true) }', undefined, bearer(a.accessToken));
      expect(codeOf((await me(second, b.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(server, b.refreshToken)).body)).toBe('UNAUTHENTICATED');
    });

    it('sessions lists live sessions with the current one marked; revokeSession kills one at once', async () => {
      const id = newIdentity('list');
      const a = await register(server, id, { 'user-agent': 'device-a' });
      const b = (await login(server, id.email, id.password, { 'user-agent': 'device-b' })).body.data!.login;
      const list = (await gql<{ sessions: { id: string; current: boolean; userAgent: string; ip: string }[] }>(server, SESSIONS, undefined, bearer(a.accessToken))).body.data!.sessions;
      expect(list).toHaveLength(2);
      const current = list.find((s) => s.current)!;
      const other = list.find((s) => !s.current)!;
      expect(current.userAgent).toBe('device-a');
      expect(other.userAgent).toBe('device-b');
      expect(current.ip).toBe('127.0.0.1');
      await me(second, b.accessToken);
      const revoked = await gql(server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: other.id }, bearer(a.accessToken));
      expect(revoked.body.data).toEqual({ revokeSession: true });
      expect(codeOf((await me(second, b.accessToken)).body)).toBe('UNAUTHENTICATED');
      const again = await gql(server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: other.id }, bearer(a.accessToken));
      expect(again.body.data).toEqual({ revokeSession: false });
    });

    it("cannot revoke another user's session", async () => {
      const a = await register(server);
      const b = await register(server);
      const bSession = (await gql<{ sessions: { id: string }[] }>(server, SESSIONS, undefined, bearer(b.accessToken))).body.data!.sessions[0]!.id;
      const res = await gql(server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: bSession }, bearer(a.accessToken));
      expect(res.body.data).toEqual({ revokeSession: false });
      expect((await me(server, b.accessToken)).body.data?.me.id).toBe(b.user.id);
      const bad = await gql(server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: 'nope' }, bearer(a.accessToken));
      expect(codeOf(bad.body)).toBe('BAD_USER_INPUT');
    });

    it('revokeOtherSessions ends all but the current one and counts them', async () => {
      const id = newIdentity('others');
      const a = await register(server, id);
      const others = [];
      for (let i = 0; i < 3; i++) others.push((await login(server, id.username, id.password)).body.data!.login);
      const res = await gql(server, 'mutation { revokeOtherSessions }', undefined, bearer(a.accessToken));
      expect(res.body.data).toEqual({ revokeOtherSessions: 3 });
      for (const o of others) expect(codeOf((await me(second, o.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect((await me(second, a.accessToken)).body.data?.me.id).toBe(a.user.id);
    });

    it('answers UNAUTHENTICATED without a token or with garbage', async () => {
      expect(codeOf((await gql(server, 'query { me { id } }')).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await gql(server, 'query { me { id } }', undefined, { authorization: 'Bearer x.y.z' })).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await gql(server, 'query { me { id } }', undefined, { authorization: 'Basic dTpw' })).body)).toBe('UNAUTHENTICATED');
    });
  });

  describe('REST shim', () => {
    it('POST /auth/refresh rotates and POST /auth/logout answers 204', async () => {
      const a = await register(server);
      const r = await rest(server, 'POST', '/v1/auth/refresh', { refreshToken: a.refreshToken });
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      const next = r.body as { accessToken: string; refreshToken: string };
      const reused = await rest(server, 'POST', '/auth/refresh', { refreshToken: a.refreshToken });
      expect(reused.status).toBe(401);
      expect(reused.body).toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });

      const b = await register(server);
      const out = await rest(server, 'POST', '/auth/logout', undefined, bearer(b.accessToken));
      expect(out.status).toBe(204);
      expect(codeOf((await me(server, b.accessToken)).body)).toBe('UNAUTHENTICATED');
      const noToken = await rest(server, 'POST', '/auth/logout', {});
      expect(noToken.status).toBe(401);
      expect(noToken.body).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(next.accessToken).toBeTruthy();
    });

    it('POST /auth/logout with {allSessions: true} ends every session', async () => {
      const id = newIdentity('restall');
      const a = await register(server, id);
      const b = (await login(server, id.username, id.password)).body.data!.login;
      expect((await rest(server, 'POST', '/auth/logout', { allSessions: true }, bearer(a.accessToken))).status).toBe(204);
      expect(codeOf((await me(server, b.accessToken)).body)).toBe('UNAUTHENTICATED');
    });
  });
});
