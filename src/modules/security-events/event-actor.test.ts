import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { bearer, codeOf, login, me, newIdentity, refresh, register } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

const CHANGE = 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }';

/** Every security event names who acted (`actor_id`) apart from the account concerned (`user_id`). */
describe('security events: the actor', () => {
  const fx = useTestServer('actor', { env: { LOCKOUT_THRESHOLD: '2' } });
  const events = (userId: string) =>
    fx.server.infra.prisma.securityEvent.findMany({ where: { userId }, select: { type: true, actorId: true, data: true } });

  it('the account itself for what it does: sign-in, sign-out, password change and the sessions it ends', async () => {
    const id = newIdentity('self');
    const t = await register(fx.server, id);
    const other = (await login(fx.server, id.username, id.password)).body.data!.login;
    const revoke = await gql(fx.server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: decodeJwt(other.accessToken).sid }, bearer(t.accessToken));
    expect(codeOf(revoke.body)).toBeUndefined();
    await login(fx.server, id.username, id.password);
    expect(codeOf((await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: 'a brand new passphrase 42' } }, bearer(t.accessToken))).body)).toBeUndefined();
    await gql(fx.server, 'mutation { logout }', undefined, bearer(t.accessToken));

    const log = await events(t.user.id);
    // Events of one transaction share their time: compare as a set.
    expect(log.map((e) => e.type).sort()).toEqual(['PASSWORD_CHANGED', 'SESSION_REVOKED', 'SESSION_REVOKED', 'SIGNED_IN', 'SIGNED_IN', 'SIGNED_IN', 'SIGNED_OUT']);
    expect(log.every((e) => e.actorId === t.user.id)).toBe(true);
  });

  it('the system (null) for what it does: a lockout, a detected refresh-token reuse', async () => {
    const id = newIdentity('system');
    const t = await register(fx.server, id);
    for (const guess of ['guess one', 'guess two']) expect(codeOf((await login(fx.server, id.username, guess)).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBeUndefined();
    expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');

    const log = await events(t.user.id);
    expect(log.filter((e) => e.type === 'ACCOUNT_LOCKED').map((e) => e.actorId)).toEqual([null]);
    expect(log.filter((e) => e.type === 'REFRESH_TOKEN_REUSED').map((e) => e.actorId)).toEqual([null]);
  });

  it('another account for an operator: ending every session of an account records who did it, and refuses its tokens at once', async () => {
    const operator = await register(fx.server);
    const t = await register(fx.server);
    expect(codeOf((await me(fx.server, t.accessToken)).body)).toBeUndefined();
    const meta = { requestId: 'operator', ip: '127.0.0.1', userAgent: null };
    expect(await fx.server.services.sessions.endEverySession(t.user.id, 'account_disabled', operator.user.id, meta)).toHaveLength(1);

    expect(codeOf((await me(fx.server, t.accessToken)).body)).toBe('UNAUTHENTICATED');
    const revoked = (await events(t.user.id)).filter((e) => e.type === 'SESSION_REVOKED');
    expect(revoked).toEqual([{ type: 'SESSION_REVOKED', actorId: operator.user.id, data: { reason: 'account_disabled' } }]);
  });
});
