import type { FastifyPluginAsync } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../composition.js';
import { bearer, codeOf, login, newIdentity, register } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';

const CHANGE = 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }';
const REAUTH = 'mutation R($password: String!, $code: String) { reauthenticate(password: $password, code: $code) }';

/** Proofs of the owner (changePassword, reauthenticate) against a stolen access token. */
describe('proving the owner with a stolen token', () => {
  const fx = useTestServers('reauth');
  /** Three proofs per account per window. */
  let perAccount: TestServer;
  /** Four password checks per IP (login and proofs of the owner together). */
  let perIp: TestServer;
  /** Locks after three failures. */
  let lockout: TestServer;
  let guarded: Services | undefined;

  /** What a later feature's REST door does: authenticate, then the shared recent-authentication guard. */
  const sensitiveRoute: FastifyPluginAsync = async (app) => {
    app.post('/sensitive', async (req) => {
      const principal = await guarded!.sessions.authenticate(req.headers.authorization);
      await guarded!.sessions.requireRecentAuth(principal);
      return { done: true };
    });
  };

  beforeAll(async () => {
    perAccount = await fx.start({ namespace: 'a', env: { RATE_LIMIT_REAUTH: '3/900' }, restRoutes: [sensitiveRoute] });
    guarded = perAccount.services;
    perIp = await fx.start({ namespace: 'i', env: { RATE_LIMIT_LOGIN_IP: '4/900' } });
    lockout = await fx.start({ namespace: 'l', env: { LOCKOUT_THRESHOLD: '3' } });
  });

  const change = (server: TestServer, token: string, currentPassword: string) =>
    gql(server, CHANGE, { i: { currentPassword, newPassword: 'a brand new passphrase 42' } }, bearer(token));

  it('changePassword and reauthenticate share a per-account limit: the fourth try waits, even with the right password', async () => {
    const id = newIdentity('peracct');
    const t = await register(perAccount, id);
    expect(codeOf((await change(perAccount, t.accessToken, 'guess one')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await change(perAccount, t.accessToken, 'guess two')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await gql(perAccount, REAUTH, { password: 'guess three' }, bearer(t.accessToken))).body)).toBe('INVALID_CREDENTIALS');
    const right = await change(perAccount, t.accessToken, id.password);
    expect(codeOf(right.body)).toBe('RATE_LIMITED');
    expect(right.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    // The password did not change.
    expect((await login(perAccount, id.username, id.password)).body.data?.login.__typename).toBe('AuthPayload');
  });

  it('per IP, proofs of the owner and logins draw on one budget', async () => {
    const a = newIdentity('ipa');
    const b = newIdentity('ipb');
    const ta = await register(perIp, a);
    const tb = await register(perIp, b);
    expect(codeOf((await change(perIp, ta.accessToken, 'guess one')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(perIp, b.username, 'guess two')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await gql(perIp, REAUTH, { password: 'guess three' }, bearer(tb.accessToken))).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await change(perIp, tb.accessToken, 'guess four')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await change(perIp, tb.accessToken, b.password)).body)).toBe('RATE_LIMITED');
  });

  it('failed password changes count toward the account lockout, like failed logins', async () => {
    const id = newIdentity('lock');
    const t = await register(lockout, id);
    for (const guess of ['guess one', 'guess two', 'guess three']) expect(codeOf((await change(lockout, t.accessToken, guess)).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(lockout, id.username, id.password)).body)).toBe('ACCOUNT_LOCKED');
    expect(codeOf((await change(lockout, t.accessToken, id.password)).body)).toBe('ACCOUNT_LOCKED');
    expect(codeOf((await gql(lockout, REAUTH, { password: id.password }, bearer(t.accessToken))).body)).toBe('ACCOUNT_LOCKED');
    expect(await lockout.infra.prisma.securityEvent.count({ where: { userId: t.user.id, type: 'ACCOUNT_LOCKED' } })).toBe(1);
  });

  it('a right proof starts the failure count again', async () => {
    const id = newIdentity('clear');
    const t = await register(lockout, id);
    for (const guess of ['guess one', 'guess two']) expect(codeOf((await change(lockout, t.accessToken, guess)).body)).toBe('INVALID_CREDENTIALS');
    expect((await gql(lockout, REAUTH, { password: id.password }, bearer(t.accessToken))).body.data).toEqual({ reauthenticate: true });
    for (const guess of ['guess three', 'guess four']) expect(codeOf((await change(lockout, t.accessToken, guess)).body)).toBe('INVALID_CREDENTIALS');
    expect((await login(lockout, id.username, id.password)).body.data?.login.__typename).toBe('AuthPayload');
  });

  it('the recent-authentication guard answers REAUTHENTICATION_REQUIRED (401 problem+json) on a REST door too, until reauthenticate', async () => {
    const id = newIdentity('rest');
    const t = await register(perAccount, id);
    const post = () => fetch(`${perAccount.url}/auth/sensitive`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(t.accessToken) }, body: '{}' });
    expect((await post()).status).toBe(200);
    await perAccount.infra.prisma.session.updateMany({ where: { userId: t.user.id }, data: { authenticatedAt: new Date(Date.now() - 11 * 60_000) } });
    const stale = await post();
    expect(stale.status).toBe(401);
    expect(stale.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await stale.json()).toMatchObject({ status: 401, code: 'REAUTHENTICATION_REQUIRED' });
    expect((await gql(perAccount, REAUTH, { password: id.password }, bearer(t.accessToken))).body.data).toEqual({ reauthenticate: true });
    expect((await post()).status).toBe(200);
  });
});
