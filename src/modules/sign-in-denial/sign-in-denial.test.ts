import { beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE } from '../../graphql/ws.js';
import { codeOf, login, me, newIdentity, refresh, register, rest, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';
import { subscribe } from '../../test/subscriber.js';

const DENY = 'mutation D($t: String!) { denySignIn(token: $t) }';

describe('SignInDenialService ("was this you?")', () => {
  const fx = useTestServers('deny', { mail: true });
  let a: TestServer; // two instances sharing PostgreSQL and Redis
  let b: TestServer;
  beforeAll(async () => {
    a = await fx.start();
    b = await fx.start();
  });
  const prisma = () => a.infra.prisma;

  /** An account, and a sign-in to it from a device it has never used (the stranger's), with its notice's token. */
  async function strangerSignIn(device = 'stranger-browser/1.0') {
    const id = newIdentity('deny');
    const owner = await register(a, id);
    return { id, owner, ...(await signInFrom(id, owner, device)) };
  }
  async function signInFrom(id: ReturnType<typeof newIdentity>, owner: Tokens, device: string) {
    const stranger = (await login(a, id.username, id.password, { 'user-agent': device })).body.data!.login;
    const sessionId = (await prisma().session.findFirstOrThrow({ where: { userId: owner.user.id, userAgent: device } })).id;
    // This sign-in's notice: the first one to the owner not taken by an earlier sign-in.
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, owner.user.email) && /new sign-in/i.test(m.subject) && !seen.has(m.id), 10_000);
    seen.add(mail.id);
    return { stranger, sessionId, mail, token: tokenIn(mail.text) };
  }
  const seen = new Set<string>();

  it('the new sign-in notice carries a deny link in both parts, bound to the new session, valid 7 days', async () => {
    const { owner, sessionId, mail, token } = await strangerSignIn();
    expect(tokenIn(mail.html)).toBe(token);
    expect(mail.text ?? '').toContain('http://app.test.local/deny-sign-in?token=');
    const row = await prisma().oneTimeToken.findFirstOrThrow({ where: { userId: owner.user.id, purpose: 'SIGN_IN_DENIAL' } });
    expect(row.sessionId).toBe(sessionId);
    expect(Math.abs(row.expiresAt.getTime() - row.createdAt.getTime() - 7 * 86_400_000)).toBeLessThan(1_000);
    // Sealed in the stored email, never in clear.
    const stored = await prisma().emailMessage.findFirstOrThrow({ where: { userId: owner.user.id, template: 'new-sign-in' } });
    expect(JSON.stringify(stored.data)).not.toContain(token);
  });

  it('signInToDeny shows what the link concerns without using it; an unusable token is INVALID_TOKEN', async () => {
    const { sessionId, token } = await strangerSignIn('preview-browser/1.0');
    const PREVIEW = 'query P($t: String!) { signInToDeny(token: $t) { signedInAt ip userAgent active } }';
    const first = await gql<{ signInToDeny: { ip: string; userAgent: string; active: boolean } }>(a, PREVIEW, { t: token });
    expect(first.body.data?.signInToDeny).toMatchObject({ userAgent: 'preview-browser/1.0', active: true });
    expect(first.body.data?.signInToDeny.ip).toBeTruthy();
    // Nothing used: the session lives and the link still denies.
    expect((await prisma().session.findUniqueOrThrow({ where: { id: sessionId } })).revokedAt).toBeNull();
    expect((await gql(a, DENY, { t: token })).body.data).toEqual({ denySignIn: true });
    expect(codeOf((await gql(a, PREVIEW, { t: token })).body)).toBe('INVALID_TOKEN');
    expect(codeOf((await gql(a, PREVIEW, { t: 'x'.repeat(43) })).body)).toBe('INVALID_TOKEN');
  });

  it('ends that session at once on every instance (its socket on the other instance closes), records SIGN_IN_DENIED, and emails next steps', async () => {
    const { owner, stranger, sessionId, token } = await strangerSignIn();
    const socket = await subscribe(b.wsUrl, stranger.accessToken);
    const ownerWatch = await subscribe(a.wsUrl, owner.accessToken);
    try {
      const res = await rest(a, 'POST', '/auth/deny-sign-in', { token });
      expect(res.status).toBe(204);
      expect(res.body).toBeUndefined();
      expect((await socket.closedWith(2_000)).code).toBe(WS_CLOSE.unauthorized);
      expect(codeOf((await me(b, stranger.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(b, stranger.refreshToken)).body)).toBe('UNAUTHENTICATED');
      // The owner's own session is untouched, and hears of it.
      expect((await me(a, owner.accessToken)).body.data?.me.id).toBe(owner.user.id);
      expect(await ownerWatch.next((e) => e.type === 'SIGN_IN_DENIED' && e.sessionId === sessionId)).toBeTruthy();
    } finally {
      socket.dispose();
      ownerWatch.dispose();
    }
    const session = await prisma().session.findUniqueOrThrow({ where: { id: sessionId } });
    expect(session).toMatchObject({ revokeReason: 'sign_in_denied' });
    const events = await prisma().securityEvent.findMany({ where: { userId: owner.user.id, sessionId }, select: { type: true, actorId: true, data: true } });
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'SESSION_REVOKED', actorId: owner.user.id, data: { reason: 'sign_in_denied' } },
        { type: 'SIGN_IN_DENIED', actorId: owner.user.id, data: { sessionEnded: true } },
      ]),
    );
    const audit = await prisma().auditEntry.findMany({ where: { targetUserId: owner.user.id, action: 'user.sign_in_denied' } });
    expect(audit).toMatchObject([{ outcome: 'SUCCESS', actorId: owner.user.id, sessionId, details: { sessionEnded: true } }]);
    const notice = await fx.mail.waitForDelivery((m) => sentTo(m, owner.user.email) && /signed out a device/i.test(m.subject), 10_000);
    for (const part of [notice.text ?? '', notice.html ?? '']) {
      expect(part).toContain('http://app.test.local/forgot-password');
      expect(part).not.toContain(token);
    }
  });

  it('a deny link works once, through either door, and needs no session', async () => {
    const { token } = await strangerSignIn();
    expect((await gql(b, DENY, { t: token })).body).toEqual({ data: { denySignIn: true } });
    expect(codeOf((await gql(a, DENY, { t: token })).body)).toBe('INVALID_TOKEN');
    const again = await rest(a, 'POST', '/auth/deny-sign-in', { token });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('a deny link ends only the session it was sent for', async () => {
    const first = await strangerSignIn('stranger-one/1.0');
    const second = await signInFrom(first.id, first.owner, 'stranger-two/2.0');
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(second.token).not.toBe(first.token);
    expect((await rest(a, 'POST', '/auth/deny-sign-in', { token: second.token })).status).toBe(204);
    expect(codeOf((await me(a, second.stranger.accessToken)).body)).toBe('UNAUTHENTICATED');
    expect((await me(a, first.stranger.accessToken)).body.data?.me.id).toBe(first.owner.user.id);
    expect((await me(a, first.owner.accessToken)).body.data?.me.id).toBe(first.owner.user.id);
  });

  it('refuses an expired, unknown or malformed token', async () => {
    const { owner, stranger, token } = await strangerSignIn();
    await prisma().oneTimeToken.updateMany({ where: { userId: owner.user.id, purpose: 'SIGN_IN_DENIAL' }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect(codeOf((await gql(a, DENY, { t: token })).body)).toBe('INVALID_TOKEN');
    expect((await me(a, stranger.accessToken)).body.data?.me.id).toBe(owner.user.id);
    for (const t of ['A'.repeat(43), 'nope']) expect(codeOf((await gql(a, DENY, { t })).body)).toBe('INVALID_TOKEN');
    expect((await rest(a, 'POST', '/auth/deny-sign-in', {})).body).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('a session that already ended is still denied: the event and the notice say it had ended', async () => {
    const { owner, stranger, sessionId, token } = await strangerSignIn();
    await gql(a, 'mutation { logout }', undefined, { authorization: `Bearer ${stranger.accessToken}` });
    expect((await gql(a, DENY, { t: token })).body).toEqual({ data: { denySignIn: true } });
    const event = await prisma().securityEvent.findFirstOrThrow({ where: { userId: owner.user.id, sessionId, type: 'SIGN_IN_DENIED' } });
    expect(event.data).toEqual({ sessionEnded: false });
    const notice = await fx.mail.waitForDelivery((m) => sentTo(m, owner.user.email) && /signed out a device/i.test(m.subject), 10_000);
    expect(notice.text).toMatch(/already been signed out/);
  });

  it('opening the emailed link (GET) changes nothing: the session lives and the link still works', async () => {
    const { owner, stranger, token } = await strangerSignIn();
    for (const path of [`/deny-sign-in?token=${token}`, `/auth/deny-sign-in?token=${token}`, `/v1/auth/deny-sign-in?token=${token}`]) {
      for (const accept of ['text/html', '*/*']) {
        const res = await fetch(`${a.url}${path}`, { headers: { accept } });
        expect([404, 405]).toContain(res.status);
      }
    }
    expect((await me(a, stranger.accessToken)).body.data?.me.id).toBe(owner.user.id);
    expect((await prisma().oneTimeToken.findFirstOrThrow({ where: { userId: owner.user.id, purpose: 'SIGN_IN_DENIAL' } })).consumedAt).toBeNull();
    expect((await rest(a, 'POST', '/auth/deny-sign-in', { token })).status).toBe(204);
  });
});
