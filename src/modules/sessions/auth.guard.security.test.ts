import type { FastifyPluginAsync } from 'fastify';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Role } from '../../core/request.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { bearer, codeOf, register, rest, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

/** The role guard, as a later feature's doors use it: a REST preHandler, and the GraphQL (HTTP or socket) context. */
describe('role guard', () => {
  const guard = () => fx.server.services.auth;
  /** What an operators' REST door does: the preHandler, then the handler reads the caller. */
  const operatorRoutes: FastifyPluginAsync = async (app) => {
    app.get('/support-desk', { preHandler: (req) => guard().requireRoleHook('SUPPORT')(req) }, async (req) => ({ role: (await guard().request(req)).role }));
    app.get('/admin-desk', { preHandler: (req) => guard().requireRoleHook('ADMIN')(req) }, async (req) => ({ role: (await guard().request(req)).role }));
  };
  const fx = useTestServer('roles', { restRoutes: [operatorRoutes] });

  /** A fresh account holding `role`, set by SQL as the admin API will, then made visible with its hook. */
  async function withRole(role: Role): Promise<Tokens> {
    const t = await register(fx.server);
    await setRole(t.user.id, role);
    return t;
  }
  async function setRole(userId: string, role: Role) {
    await fx.server.infra.prisma.user.update({ where: { id: userId }, data: { role } });
    await fx.server.services.identity.accountChanged(userId);
  }
  const desk = async (path: string, t: Tokens) => (await rest(fx.server, 'GET', `/auth/${path}`, undefined, bearer(t.accessToken))).status;
  /** The GraphQL door's guard over HTTP: a context carrying the request's Authorization. */
  const overHttp = (t: Tokens) => ({ authorization: `Bearer ${t.accessToken}` }) as unknown as GraphQLContext;
  /** The same guard on a socket: the principal the socket authenticated at connection_init. */
  const onSocket = (t: Tokens) => ({ authorization: undefined, principal: { userId: t.user.id, sessionId: decodeJwt(t.accessToken).sid } }) as unknown as GraphQLContext;
  const refusal = (p: Promise<unknown>) => p.then(() => 'allowed', (e: { code?: string }) => e.code);

  it('USER passes neither desk (403 FORBIDDEN); SUPPORT passes the support desk only; ADMIN passes both', async () => {
    const [user, support, admin] = [await withRole('USER'), await withRole('SUPPORT'), await withRole('ADMIN')];
    const denied = await rest(fx.server, 'GET', '/auth/support-desk', undefined, bearer(user.accessToken));
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect([await desk('support-desk', user), await desk('admin-desk', user)]).toEqual([403, 403]);
    expect([await desk('support-desk', support), await desk('admin-desk', support)]).toEqual([200, 403]);
    expect([await desk('support-desk', admin), await desk('admin-desk', admin)]).toEqual([200, 200]);
    expect((await rest(fx.server, 'GET', '/auth/admin-desk', undefined, bearer(admin.accessToken))).body).toEqual({ role: 'ADMIN' });

    expect(await refusal(guard().requireRole(overHttp(user), 'SUPPORT'))).toBe('FORBIDDEN');
    expect(await refusal(guard().requireRole(overHttp(support), 'SUPPORT'))).toBe('allowed');
    expect(await refusal(guard().requireRole(overHttp(support), 'ADMIN'))).toBe('FORBIDDEN');
    expect((await guard().requireRole(onSocket(admin), 'SUPPORT')).role).toBe('ADMIN');
  });

  it('asks for a live session first: no token or a bad one is 401 UNAUTHENTICATED, never FORBIDDEN', async () => {
    expect((await rest(fx.server, 'GET', '/auth/support-desk')).body).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect((await rest(fx.server, 'GET', '/auth/support-desk', undefined, bearer('not.a.jwt'))).status).toBe(401);
    expect(await refusal(guard().requireRole({ authorization: undefined } as unknown as GraphQLContext, 'USER'))).toBe('UNAUTHENTICATED');
  });

  it('a role change takes effect on the next call: REST, GraphQL (me.role and the guard) and an open socket alike', async () => {
    const t = await withRole('USER');
    const meRole = async () => (await gql<{ me: { role: Role } }>(fx.server, 'query { me { role } }', undefined, bearer(t.accessToken))).body;
    expect((await meRole()).data?.me.role).toBe('USER');
    expect(await desk('admin-desk', t)).toBe(403);

    await setRole(t.user.id, 'ADMIN');
    expect((await meRole()).data?.me.role).toBe('ADMIN');
    expect(await desk('admin-desk', t)).toBe(200);
    expect(await refusal(guard().requireRole(onSocket(t), 'ADMIN'))).toBe('allowed');

    await setRole(t.user.id, 'SUPPORT');
    expect((await meRole()).data?.me.role).toBe('SUPPORT');
    expect(await desk('admin-desk', t)).toBe(403);
    expect(await desk('support-desk', t)).toBe(200);
    expect(await refusal(guard().requireRole(onSocket(t), 'ADMIN'))).toBe('FORBIDDEN');
    expect(codeOf(await meRole())).toBeUndefined();
  });

  it('the role never travels in the access token', async () => {
    const t = await withRole('ADMIN');
    expect(Object.keys(decodeJwt(t.accessToken)).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sid', 'sub']);
  });
});
