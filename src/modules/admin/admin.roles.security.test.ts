import { beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../core/request.js';
import { accountWithRole, adminCall, adminRest, variablesFor, type AdminOp } from '../../test/admin-client.js';
import { codeOf, me, register, type Tokens } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';
import { ADMIN_OPERATIONS } from './admin.service.js';

/** What each operation needs, as the API reference states it (written out: the code is checked against this). */
const NEEDS: Record<AdminOp, Role> = {
  users: 'SUPPORT',
  user: 'SUPPORT',
  userSessions: 'SUPPORT',
  revokeUserSessions: 'SUPPORT',
  unlockUser: 'SUPPORT',
  disableUser: 'ADMIN',
  enableUser: 'ADMIN',
  deleteUser: 'ADMIN',
  resetUserMfa: 'ADMIN',
  setUserRole: 'ADMIN',
};

/** The REST routes and the operation each one is. */
const ROUTES: { method: string; path: (id: string) => string; op: AdminOp; ok: number }[] = [
  { method: 'GET', path: () => '/users?query=x&first=5', op: 'users', ok: 200 },
  { method: 'GET', path: (id) => `/users/${id}`, op: 'user', ok: 200 },
  { method: 'POST', path: (id) => `/users/${id}/disable`, op: 'disableUser', ok: 200 },
  { method: 'POST', path: (id) => `/users/${id}/enable`, op: 'enableUser', ok: 200 },
  { method: 'POST', path: (id) => `/users/${id}/sessions/revoke`, op: 'revokeUserSessions', ok: 200 },
  { method: 'DELETE', path: (id) => `/users/${id}`, op: 'deleteUser', ok: 204 },
];

const CALLERS: Role[] = ['USER', 'SUPPORT', 'ADMIN'];
const RANK: Record<Role, number> = { USER: 0, SUPPORT: 1, ADMIN: 2 };
const allowed = (caller: Role, op: AdminOp) => RANK[caller] >= RANK[NEEDS[op]];

describe('admin API: every operation checked against the caller role on the server', () => {
  const fx = useTestServer('adminroles');
  const prisma = () => fx.server.infra.prisma;
  const callers = {} as Record<Role, Tokens>;

  beforeAll(async () => {
    for (const role of CALLERS) callers[role] = await accountWithRole(fx.server, role);
    // A second ADMIN: the matrix's ADMIN caller is then never the last one.
    await accountWithRole(fx.server, 'ADMIN', 'spare');
  });

  /** What a refused call must have left as it was: the victim, its role, standing and sessions. */
  async function unchanged(victimId: string) {
    const row = await prisma().user.findUnique({ where: { id: victimId }, select: { role: true, disabledAt: true } });
    expect(row).toEqual({ role: 'USER', disabledAt: null });
    expect(await prisma().session.count({ where: { userId: victimId, revokedAt: null } })).toBe(1);
  }

  it('the matrix covers every operation the service knows', () => {
    expect(Object.keys(ADMIN_OPERATIONS).sort()).toEqual(Object.keys(NEEDS).sort());
    expect(ADMIN_OPERATIONS).toEqual(NEEDS);
  });

  describe.each(Object.keys(NEEDS) as AdminOp[])('GraphQL %s', (op) => {
    it.each(CALLERS)('as %s', async (caller) => {
      const victim = await register(fx.server);
      const res = await adminCall(fx.server, op, variablesFor(op, victim.user.id), callers[caller]!.accessToken);
      if (allowed(caller, op)) {
        expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
        expect(res.body.data?.[op]).toBeDefined();
      } else {
        expect(codeOf(res.body)).toBe('FORBIDDEN');
        expect(res.body.data?.[op] ?? null).toBeNull();
        await unchanged(victim.user.id);
      }
    });

    it('without an access token: UNAUTHENTICATED', async () => {
      const victim = await register(fx.server);
      expect(codeOf((await adminCall(fx.server, op, variablesFor(op, victim.user.id))).body)).toBe('UNAUTHENTICATED');
      await unchanged(victim.user.id);
    });
  });

  describe.each(ROUTES.map((r) => [`${r.method} /v1/admin${r.path(':id')}`, r] as const))('REST %s', (_label, route) => {
    it.each(CALLERS)('as %s', async (caller) => {
      const victim = await register(fx.server);
      const res = await adminRest(fx.server, route.method, route.path(victim.user.id), callers[caller]!.accessToken);
      if (allowed(caller, route.op)) {
        expect(res.status, JSON.stringify(res.body)).toBe(route.ok);
      } else {
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ status: 403, code: 'FORBIDDEN' });
        await unchanged(victim.user.id);
      }
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('without an access token: 401 UNAUTHENTICATED', async () => {
      const victim = await register(fx.server);
      const res = await adminRest(fx.server, route.method, route.path(victim.user.id));
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'UNAUTHENTICATED' });
      await unchanged(victim.user.id);
    });
  });

  it('SUPPORT may not end the sessions of, or unlock, an account above it (an ADMIN); ADMIN may', async () => {
    const target = await accountWithRole(fx.server, 'ADMIN', 'above');
    const support = callers.SUPPORT!.accessToken;
    expect(codeOf((await adminCall(fx.server, 'revokeUserSessions', { userId: target.user.id }, support)).body)).toBe('FORBIDDEN');
    expect(codeOf((await adminCall(fx.server, 'unlockUser', { id: target.user.id }, support)).body)).toBe('FORBIDDEN');
    expect((await adminRest(fx.server, 'POST', `/users/${target.user.id}/sessions/revoke`, support)).status).toBe(403);
    expect(await prisma().session.count({ where: { userId: target.user.id, revokedAt: null } })).toBe(1);
    const peer = await accountWithRole(fx.server, 'SUPPORT', 'peer');
    expect((await adminCall(fx.server, 'revokeUserSessions', { userId: peer.user.id }, support)).body.data).toEqual({ revokeUserSessions: 1 });
    expect((await adminCall(fx.server, 'revokeUserSessions', { userId: target.user.id }, callers.ADMIN!.accessToken)).body.data).toEqual({ revokeUserSessions: 1 });
  });

  it('a role change takes effect at the next call of the sessions already open', async () => {
    const helper = await accountWithRole(fx.server, 'SUPPORT', 'helper');
    const victim = await register(fx.server);
    expect(codeOf((await adminCall(fx.server, 'user', { id: victim.user.id }, helper.accessToken)).body)).toBeUndefined();
    const admin = callers.ADMIN!;
    expect((await adminCall(fx.server, 'setUserRole', { id: helper.user.id, role: 'USER' }, admin.accessToken)).body.errors).toBeUndefined();
    expect(codeOf((await adminCall(fx.server, 'user', { id: victim.user.id }, helper.accessToken)).body)).toBe('FORBIDDEN');
    expect((await adminRest(fx.server, 'GET', `/users/${victim.user.id}`, helper.accessToken)).status).toBe(403);
    expect((await me(fx.server, helper.accessToken)).body.data?.me).toMatchObject({ id: helper.user.id });
  });

  it('operators draw on RATE_LIMIT_ADMIN per account, one count for both doors; refused callers do not', async () => {
    const limited = await fx.start({ namespace: 'limited', env: { RATE_LIMIT_ADMIN: '3/60' } });
    const support = await accountWithRole(limited, 'SUPPORT', 'counted');
    const user = await accountWithRole(limited, 'USER', 'refused');
    const victim = await register(limited);
    for (let i = 0; i < 5; i++) expect(codeOf((await adminCall(limited, 'user', { id: victim.user.id }, user.accessToken)).body)).toBe('FORBIDDEN');
    expect(codeOf((await adminCall(limited, 'user', { id: victim.user.id }, support.accessToken)).body)).toBeUndefined();
    expect((await adminRest(limited, 'GET', `/users/${victim.user.id}`, support.accessToken)).status).toBe(200);
    expect(codeOf((await adminCall(limited, 'users', { first: 1 }, support.accessToken)).body)).toBeUndefined();
    expect(codeOf((await adminCall(limited, 'user', { id: victim.user.id }, support.accessToken)).body)).toBe('RATE_LIMITED');
    const viaRest = await adminRest(limited, 'GET', `/users/${victim.user.id}`, support.accessToken);
    expect(viaRest.status).toBe(429);
    expect(viaRest.body).toMatchObject({ code: 'RATE_LIMITED' });
  });
});
