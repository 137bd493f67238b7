import { beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE } from '../../graphql/ws.js';
import { accountWithRole, adminCall, adminRest, DELETE_ACCOUNT, type AdminUserView } from '../../test/admin-client.js';
import { bearer, codeOf, login, me, newIdentity, refresh, register, rest, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { subscribe } from '../../test/subscriber.js';
import { stepNow, totpAt } from '../../test/totp.js';

const START = 'mutation { startTotpEnrollment { secret } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const MFA_LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';

/** The account lifecycle through the public API, on two instances sharing the database and Redis. */
describe('account lifecycle', () => {
  // A low lockout threshold, so `unlockUser` has a lock to lift.
  const fx = useTestServers('lifecycle');
  let a: TestServer;
  let b: TestServer;
  let admin: Tokens;
  const prisma = () => a.infra.prisma;
  const auditOf = (targetUserId: string, action: string) => prisma().auditEntry.findMany({ where: { targetUserId, action } });

  beforeAll(async () => {
    const env = { LOCKOUT_THRESHOLD: '3' };
    a = await fx.start({ env });
    b = await fx.start({ env });
    admin = await accountWithRole(a, 'ADMIN');
    await accountWithRole(a, 'ADMIN', 'spare');
  });

  /** A user with TOTP on (the address verified directly: set-up), and its secret. */
  async function withMfa(server: TestServer) {
    const id = newIdentity('mfa');
    const t = await register(server, id);
    await prisma().user.update({ where: { id: t.user.id }, data: { emailVerifiedAt: new Date() } });
    const secret = (await gql<{ startTotpEnrollment: { secret: string } }>(server, START, undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment.secret;
    const confirmed = await gql(server, CONFIRM, { code: totpAt(secret, stepNow() - 1) }, bearer(t.accessToken));
    expect(confirmed.body.errors, JSON.stringify(confirmed.body.errors)).toBeUndefined();
    return { id, t, secret };
  }

  describe('disableUser', () => {
    it('ends every session at once: the socket on the other instance closes, refresh and calls are refused, sign-in says ACCOUNT_DISABLED', async () => {
      const id = newIdentity('victim');
      const victim = await register(a, id);
      const socket = await subscribe(b.wsUrl, victim.accessToken);
      try {
        const res = await adminCall<{ disableUser: AdminUserView }>(a, 'disableUser', { id: victim.user.id, reason: 'chargeback fraud' }, admin.accessToken);
        expect(res.body.data?.disableUser).toMatchObject({ id: victim.user.id, disabledReason: 'chargeback fraud', activeSessions: 0 });
        expect(res.body.data?.disableUser.disabledAt).toBeTruthy();
        expect((await socket.closedWith()).code).toBe(WS_CLOSE.unauthorized);
      } finally {
        socket.dispose();
      }
      expect(codeOf((await refresh(b, victim.refreshToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await me(b, victim.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await login(b, id.username, id.password)).body)).toBe('ACCOUNT_DISABLED');
      expect(codeOf((await login(b, id.username, 'not the password at all')).body)).toBe('INVALID_CREDENTIALS');
      expect((await rest(a, 'POST', '/auth/login', { identifier: id.email, password: id.password })).body).toMatchObject({ status: 403, code: 'ACCOUNT_DISABLED' });

      const [entry] = await auditOf(victim.user.id, 'admin.user_disabled');
      expect(entry).toMatchObject({ actorId: admin.user.id, outcome: 'SUCCESS', details: { reason: 'chargeback fraud', sessionsEnded: 1 } });
      const ended = await prisma().securityEvent.findFirstOrThrow({ where: { userId: victim.user.id, type: 'SESSION_REVOKED' } });
      expect(ended.actorId).toBe(admin.user.id);
    });

    it('refuses to complete a second-factor sign-in started before it', async () => {
      const { id, t, secret } = await withMfa(a);
      const challenge = (await gql<{ login: { mfaToken: string } }>(a, MFA_LOGIN, { i: { identifier: id.username, password: id.password } })).body.data!.login;
      expect((await adminRest(a, 'POST', `/users/${t.user.id}/disable`, admin.accessToken, { reason: 'stolen device' })).status).toBe(200);
      expect(codeOf((await gql(b, COMPLETE, { i: { mfaToken: challenge.mfaToken, code: totpAt(secret, stepNow()) } })).body)).toBe('ACCOUNT_DISABLED');
    });

    it('enableUser lets the account sign in again; both changes are audited', async () => {
      const id = newIdentity('back');
      const t = await register(a, id);
      await adminCall(a, 'disableUser', { id: t.user.id }, admin.accessToken);
      const enabled = await adminRest(a, 'POST', `/users/${t.user.id}/enable`, admin.accessToken);
      expect(enabled.body).toMatchObject({ id: t.user.id, disabledAt: null, disabledReason: null });
      expect((await login(b, id.username, id.password)).body.data?.login.accessToken).toBeTruthy();
      expect(await auditOf(t.user.id, 'admin.user_enabled')).toEqual([expect.objectContaining({ actorId: admin.user.id })]);
    });
  });

  describe('deleteUser', () => {
    it('erases the account and what it owns, keeps audit entries by id alone, closes its sockets, and frees its email and username', async () => {
      const { id, t } = await withMfa(a);
      const socket = await subscribe(b.wsUrl, t.accessToken);
      const emails = await prisma().emailMessage.findMany({ where: { userId: t.user.id }, select: { id: true } });
      expect(emails.length).toBeGreaterThan(0);
      try {
        expect((await adminRest(a, 'DELETE', `/users/${t.user.id}`, admin.accessToken)).status).toBe(204);
        expect((await socket.closedWith()).code).toBe(WS_CLOSE.unauthorized);
      } finally {
        socket.dispose();
      }
      const where = { userId: t.user.id };
      expect(await prisma().user.count({ where: { id: t.user.id } })).toBe(0);
      expect(await prisma().session.count({ where })).toBe(0);
      expect(await prisma().refreshToken.count({ where: { session: where } })).toBe(0);
      expect(await prisma().oneTimeToken.count({ where })).toBe(0);
      expect(await prisma().recoveryCode.count({ where })).toBe(0);
      expect(await prisma().securityEvent.count({ where })).toBe(0);
      expect(await prisma().emailMessage.count({ where: { OR: [{ id: { in: emails.map((e) => e.id) } }, { toAddress: t.user.email }] } })).toBe(0);
      const outbox = await prisma().outboxMessage.findMany({ select: { payload: true } });
      expect(outbox.filter((o) => emails.some((e) => JSON.stringify(o.payload).includes(e.id)))).toEqual([]);
      const audit = await prisma().auditEntry.findMany({ where: { targetUserId: t.user.id } });
      expect(audit.map((e) => e.action)).toContain('admin.user_deleted');
      expect(JSON.stringify(audit)).not.toContain(t.user.username);
      expect(JSON.stringify(audit)).not.toContain(t.user.email);

      expect((await adminCall(a, 'user', { id: t.user.id }, admin.accessToken)).body.data).toEqual({ user: null });
      expect((await adminRest(a, 'GET', `/users/${t.user.id}`, admin.accessToken)).body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
      expect(codeOf((await refresh(b, t.refreshToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await login(b, id.username, id.password)).body)).toBe('INVALID_CREDENTIALS');
      const again = await register(b, { ...id, password: `${id.password}-new` });
      expect(again.user).toMatchObject({ username: t.user.username, email: t.user.email });
      expect(again.user.id).not.toBe(t.user.id);
    });
  });

  describe('deleteAccount (the owner)', () => {
    it('needs the password and, with MFA on, a current code; then erases the account as user.deleted', async () => {
      const { id, t, secret } = await withMfa(a);
      const call = (v: Record<string, unknown>) => gql(a, DELETE_ACCOUNT, v, bearer(t.accessToken));
      expect(codeOf((await call({ password: 'not the password at all', code: totpAt(secret, stepNow()) })).body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf((await call({ password: id.password })).body)).toBe('INVALID_CREDENTIALS');
      expect(await prisma().user.count({ where: { id: t.user.id } })).toBe(1);
      expect((await call({ password: id.password, code: totpAt(secret, stepNow()) })).body.data).toEqual({ deleteAccount: true });
      expect(await prisma().user.count({ where: { id: t.user.id } })).toBe(0);
      // The two refused proofs are audited too (as the owner's proofs always are), then the erasure once.
      const entries = await auditOf(t.user.id, 'user.deleted');
      expect(entries.filter((e) => e.outcome === 'FAILURE')).toHaveLength(2);
      expect(entries.filter((e) => e.outcome === 'SUCCESS')).toEqual([expect.objectContaining({ actorId: t.user.id })]);
      expect(codeOf((await me(a, t.accessToken)).body)).toBe('UNAUTHENTICATED');
    });

    it('needs a recent sign-in: an old session answers REAUTHENTICATION_REQUIRED until reauthenticate', async () => {
      const id = newIdentity('old');
      const t = await register(a, id);
      await prisma().session.updateMany({ where: { userId: t.user.id }, data: { authenticatedAt: new Date(Date.now() - 3_600_000) } });
      expect(codeOf((await gql(a, DELETE_ACCOUNT, { password: id.password }, bearer(t.accessToken))).body)).toBe('REAUTHENTICATION_REQUIRED');
      expect(await prisma().user.count({ where: { id: t.user.id } })).toBe(1);
      await gql(a, 'mutation R($p: String!) { reauthenticate(password: $p) }', { p: id.password }, bearer(t.accessToken));
      expect((await gql(a, DELETE_ACCOUNT, { password: id.password }, bearer(t.accessToken))).body.data).toEqual({ deleteAccount: true });
    });
  });

  it('revokeUserSessions ends every session (sockets on the other instance close) and says how many', async () => {
    const id = newIdentity('revoked');
    const t = await register(a, id);
    await login(a, id.username, id.password);
    const socket = await subscribe(b.wsUrl, t.accessToken);
    try {
      expect((await adminCall(a, 'revokeUserSessions', { userId: t.user.id }, admin.accessToken)).body.data).toEqual({ revokeUserSessions: 2 });
      expect((await socket.closedWith()).code).toBe(WS_CLOSE.unauthorized);
    } finally {
      socket.dispose();
    }
    expect((await adminRest(a, 'POST', `/users/${t.user.id}/sessions/revoke`, admin.accessToken)).body).toEqual({ revoked: 0 });
    expect(codeOf((await refresh(a, t.refreshToken)).body)).toBe('UNAUTHENTICATED');
    expect((await login(a, id.username, id.password)).body.data?.login.accessToken).toBeTruthy();
    const entries = await auditOf(t.user.id, 'admin.sessions_revoked');
    expect(entries.map((e) => e.details)).toEqual(expect.arrayContaining([{ sessionsEnded: 2 }, { sessionsEnded: 0 }]));
  });

  it('resetUserMfa turns the second factor off, recorded with the admin as actor', async () => {
    const { id, t } = await withMfa(a);
    const res = await adminCall<{ resetUserMfa: AdminUserView }>(a, 'resetUserMfa', { id: t.user.id }, admin.accessToken);
    expect(res.body.data?.resetUserMfa.mfaEnabled).toBe(false);
    expect((await login(a, id.username, id.password)).body.data?.login.accessToken).toBeTruthy();
    expect(await auditOf(t.user.id, 'admin.mfa_reset')).toEqual([expect.objectContaining({ actorId: admin.user.id })]);
    expect((await prisma().securityEvent.findFirstOrThrow({ where: { userId: t.user.id, type: 'MFA_DISABLED' } })).actorId).toBe(admin.user.id);
  });

  it('unlockUser lifts every lock of the account, as the unlock link does', async () => {
    const id = newIdentity('locked');
    const t = await register(a, id);
    const stranger = { 'user-agent': 'somewhere else' };
    for (let i = 0; i < 3; i++) await login(a, id.username, 'not the password at all', stranger);
    expect(codeOf((await login(a, id.username, id.password, stranger)).body)).toBe('ACCOUNT_LOCKED');
    const before = await adminCall<{ user: AdminUserView }>(a, 'user', { id: t.user.id }, admin.accessToken);
    expect(before.body.data?.user.lockedUntil).toBeTruthy();
    const res = await adminCall<{ unlockUser: AdminUserView }>(a, 'unlockUser', { id: t.user.id }, admin.accessToken);
    expect(res.body.data?.unlockUser.lockedUntil).toBeNull();
    expect((await login(b, id.username, id.password, stranger)).body.data?.login.accessToken).toBeTruthy();
    expect(await auditOf(t.user.id, 'admin.user_unlocked')).toEqual([expect.objectContaining({ actorId: admin.user.id })]);
  });
});
