import bcrypt from 'bcrypt';
import WebSocket from 'ws';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { WS_CLOSE } from '../../graphql/ws.js';
import { bearer, codeOf, login, me, newIdentity, refresh, register, rest, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { stepNow, totpAt } from '../../test/totp.js';

const START = 'mutation { startTotpEnrollment { secret } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const MFA_LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';

/** Opens a graphql-transport-ws socket and sends connection_init; resolves with the first message or the close. */
async function connect(url: string, accessToken: string) {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const first = new Promise<{ message?: { type: string }; close?: number }>((resolve) => {
    socket.once('message', (d) => resolve({ message: JSON.parse(String(d)) as { type: string } }));
    socket.once('close', (code) => resolve({ close: code }));
    socket.once('error', () => undefined);
  });
  socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${accessToken}` } })));
  return { socket, first: await first };
}

/** How the socket closed; a socket still open after a few seconds fails the test (not a timing assertion: a bound). */
const closed = (socket: WebSocket) =>
  new Promise<number>((resolve, reject) => {
    const bound = setTimeout(() => reject(new Error('socket still open')), 5_000);
    socket.once('close', (code) => (clearTimeout(bound), resolve(code)));
  });

/**
 * Whether an account may act is decided in one place (accountStanding); these are the doors that ask it.
 * These tests change the row by SQL (as a change made outside the API would) and, where a session was already
 * in use, drop its cached state with the hook the admin API calls; the admin API's own are in modules/admin.
 */
describe('account standing: every sign-in and every use of a session asks the same rule', () => {
  const fx = useTestServer('standing');
  const prisma = () => fx.server.infra.prisma;
  const disable = (userId: string) => prisma().user.update({ where: { id: userId }, data: { disabledAt: new Date(), disabledReason: 'test' } });
  const remove = (userId: string) => prisma().user.delete({ where: { id: userId } });
  const dropCachedState = (userId: string) => fx.server.services.identity.accountChanged(userId);
  const sessionsOf = (userId: string) => prisma().session.count({ where: { userId } });

  describe('a disabled account', () => {
    let id: ReturnType<typeof newIdentity>;
    let t: Tokens;
    beforeAll(async () => {
      id = newIdentity('disabled');
      t = await register(fx.server, id);
      // In use before the disable: the token's session and the account's state are cached.
      expect((await me(fx.server, t.accessToken)).body.data?.me.id).toBe(t.user.id);
      await disable(t.user.id);
    });

    it('right password: ACCOUNT_DISABLED (REST 403) and no session; wrong password: INVALID_CREDENTIALS', async () => {
      const before = await sessionsOf(t.user.id);
      expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('ACCOUNT_DISABLED');
      expect(codeOf((await login(fx.server, id.email, 'not the password at all')).body)).toBe('INVALID_CREDENTIALS');
      const viaRest = await rest(fx.server, 'POST', '/auth/login', { identifier: id.username, password: id.password });
      expect(viaRest.status).toBe(403);
      expect(viaRest.body).toMatchObject({ status: 403, code: 'ACCOUNT_DISABLED' });
      expect(await sessionsOf(t.user.id)).toBe(before);
    });

    it('checks the password with bcrypt before saying the account is disabled, at the same cost as a wrong one', async () => {
      const compare = vi.spyOn(bcrypt, 'compare');
      try {
        await login(fx.server, id.username, id.password);
        const right = compare.mock.calls.map((c) => String(c[1]).slice(0, 7));
        compare.mockClear();
        await login(fx.server, id.username, 'not the password at all');
        expect(right).toEqual(['$2b$04$']);
        expect(compare.mock.calls.map((c) => String(c[1]).slice(0, 7))).toEqual(right);
      } finally {
        compare.mockRestore();
      }
    });

    it('an access token in use is refused at its next call once the cached state is dropped (UNAUTHENTICATED, REST 401)', async () => {
      await dropCachedState(t.user.id);
      expect(codeOf((await me(fx.server, t.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect((await rest(fx.server, 'POST', '/auth/logout', {}, bearer(t.accessToken))).status).toBe(401);
    });

    it('a WebSocket connection_init is refused with 4401', async () => {
      const { first } = await connect(fx.server.wsUrl, t.accessToken);
      expect(first.close).toBe(WS_CLOSE.unauthorized);
    });

    it('refresh is refused (UNAUTHENTICATED) and the session ends, by the system', async () => {
      expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBe('UNAUTHENTICATED');
      const session = await prisma().session.findFirstOrThrow({ where: { userId: t.user.id } });
      expect(session.revokeReason).toBe('account_disabled');
      const event = await prisma().securityEvent.findFirstOrThrow({ where: { userId: t.user.id, type: 'SESSION_REVOKED', sessionId: session.id } });
      expect(event.actorId).toBeNull();
    });
  });

  it('a socket already open closes when it next re-authenticates, once the account is disabled', async () => {
    const t = await register(fx.server);
    const { socket, first } = await connect(fx.server.wsUrl, t.accessToken);
    expect(first.message?.type).toBe('connection_ack');
    await disable(t.user.id);
    await dropCachedState(t.user.id);
    const code = closed(socket);
    socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${t.accessToken}` } }));
    expect(await code).toBe(WS_CLOSE.unauthorized);
  });

  it('with two-factor sign-in on: no challenge for the right password, and a challenge opened before the disable cannot be completed', async () => {
    const id = newIdentity('mfa');
    const t = await register(fx.server, id);
    await prisma().user.update({ where: { id: t.user.id }, data: { emailVerifiedAt: new Date() } });
    const secret = (await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, START, undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment.secret;
    const codes = (await gql<{ confirmTotpEnrollment: string[] }>(fx.server, CONFIRM, { code: totpAt(secret, stepNow() - 1) }, bearer(t.accessToken))).body.data!.confirmTotpEnrollment;
    const challenge = (await gql<{ login: { __typename: string; mfaToken: string } }>(fx.server, MFA_LOGIN, { i: { identifier: id.username, password: id.password } })).body.data!.login;
    expect(challenge.__typename).toBe('MfaChallenge');

    await disable(t.user.id);
    expect(codeOf((await gql(fx.server, MFA_LOGIN, { i: { identifier: id.username, password: id.password } })).body)).toBe('ACCOUNT_DISABLED');
    const before = await sessionsOf(t.user.id);
    expect(codeOf((await gql(fx.server, COMPLETE, { i: { mfaToken: challenge.mfaToken, code: totpAt(secret, stepNow()) } })).body)).toBe('ACCOUNT_DISABLED');
    const viaRest = await rest(fx.server, 'POST', '/auth/login/mfa', { mfaToken: challenge.mfaToken, code: codes[0] });
    expect(viaRest.body).toMatchObject({ status: 403, code: 'ACCOUNT_DISABLED' });
    expect(await sessionsOf(t.user.id)).toBe(before);
    // Refused before any code is checked: the recovery code is not spent on a sign-in that cannot happen.
    expect(await prisma().recoveryCode.count({ where: { userId: t.user.id, usedAt: { not: null } } })).toBe(0);
  });

  it('race: a disable that commits after a sign-in read the account still refuses that sign-in, inside its transaction', async () => {
    const t = await register(fx.server);
    // What a sign-in method holds once it has verified the credential: the account as it read it, active.
    const asRead = await prisma().user.findUniqueOrThrow({ where: { id: t.user.id } });
    await disable(t.user.id);
    const before = await sessionsOf(t.user.id);
    const opening = fx.server.services.signIn.finish(asRead, { requestId: 'race', ip: '127.0.0.1', userAgent: null });
    await expect(opening).rejects.toMatchObject({ code: 'ACCOUNT_DISABLED' });
    expect(await sessionsOf(t.user.id)).toBe(before);
  });

  describe('a deleted account (row removed)', () => {
    let id: ReturnType<typeof newIdentity>;
    let t: Tokens;
    beforeAll(async () => {
      id = newIdentity('deleted');
      t = await register(fx.server, id);
      expect((await me(fx.server, t.accessToken)).body.data?.me.id).toBe(t.user.id);
      await remove(t.user.id);
    });

    it('signs in no more (INVALID_CREDENTIALS, as an unknown identifier), refreshes no more (UNAUTHENTICATED)', async () => {
      expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBe('UNAUTHENTICATED');
    });

    it('its access token is refused once the cached state is dropped, and so is its socket', async () => {
      await dropCachedState(t.user.id);
      expect(codeOf((await me(fx.server, t.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect((await connect(fx.server.wsUrl, t.accessToken)).first.close).toBe(WS_CLOSE.unauthorized);
    });
  });
});
