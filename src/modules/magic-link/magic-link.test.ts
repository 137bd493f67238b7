import { describe, expect, it } from 'vitest';
import { bearer, codeOf, me, newIdentity, PAYLOAD, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn, verifyEmailOf } from '../../test/mail-server.js';
import { eventually } from '../../test/tcp-proxy.js';
import { stepNow, totpAt } from '../../test/totp.js';

const REQUEST = 'mutation R($e: String!) { requestMagicLink(email: $e) }';
const SIGN_IN = `mutation S($t: String!) { signInWithMagicLink(token: $t) { __typename ... on AuthPayload { ${PAYLOAD} } ... on MfaChallenge { mfaToken methods } } }`;
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';

type SignedIn = { __typename: string; accessToken?: string; refreshToken?: string; user?: { id: string; emailVerified: boolean }; mfaToken?: string; methods?: string[] };

describe('MagicLinkService', () => {
  const fx = useTestServer('magic', { mail: true, env: { RATE_LIMIT_MAGIC_LINK_REQUEST: '5/3600' } });
  const prisma = () => fx.server.infra.prisma;

  const linkMail = (to: string, not?: string) =>
    fx.mail.waitForDelivery((m) => sentTo(m, to) && /sign-in link/i.test(m.subject) && (!not || !(m.text ?? '').includes(not)), 10_000);
  /** Asks for a link over REST and returns its token, from the email. */
  const linkFor = async (email: string, not?: string) => {
    expect((await rest(fx.server, 'POST', '/auth/magic-link/request', { email })).status).toBe(202);
    return tokenIn((await linkMail(email, not)).text);
  };
  const signIn = (token: string) => gql<{ signInWithMagicLink: SignedIn }>(fx.server, SIGN_IN, { t: token });
  const drained = () =>
    eventually(async () => fx.server.infra.queues.queue('magic-link').getJobCounts('waiting', 'active', 'delayed'), (c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);

  describe('request and sign-in', () => {
    it('cookie mode: the sign-in sets the session cookie and leaves the refresh token out of the answer', async () => {
      const t = await register(fx.server, newIdentity('magic'));
      const token = await linkFor(t.user.email);
      const res = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token }, { 'x-latchkey-session': 'cookie' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ tokenType: 'Bearer', user: { id: t.user.id } });
      expect(res.body).not.toHaveProperty('refreshToken');
      expect(res.headers.getSetCookie()).toEqual([expect.stringMatching(/^(__Host-)?latchkey_refresh=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; (Secure; )?SameSite=Strict$/)]);
    });

    it('signs in end to end: the link in both parts, valid 15 minutes, a session like login, the address verified once', async () => {
      const t = await register(fx.server, newIdentity('magic'));
      // Cached before the sign-in: the verification must reach every session's view of the account.
      expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(false);
      const asked = await rest(fx.server, 'POST', '/auth/magic-link/request', { email: t.user.email });
      expect(asked.status).toBe(202);
      expect(asked.body).toBeUndefined();
      const mail = await linkMail(t.user.email);
      const token = tokenIn(mail.text);
      expect(tokenIn(mail.html)).toBe(token);
      expect(mail.text ?? '').toContain(`http://app.test.local/magic-link?token=`);
      const row = await prisma().oneTimeToken.findFirstOrThrow({ where: { userId: t.user.id, purpose: 'MAGIC_LINK' } });
      // createdAt is the database's clock, expiresAt the service's: equal to within their skew.
      expect(Math.abs(row.expiresAt.getTime() - row.createdAt.getTime() - 15 * 60_000)).toBeLessThan(1_000);
      // Sealed in the stored email, never in clear.
      const stored = await prisma().emailMessage.findFirstOrThrow({ where: { userId: t.user.id, template: 'magic-link' } });
      expect(JSON.stringify(stored.data)).not.toContain(token);

      const res = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token }, { 'user-agent': 'magic-browser/1.0' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ tokenType: 'Bearer', user: { id: t.user.id, emailVerified: true } });
      const signedIn = res.body as { accessToken: string; refreshToken: string };
      expect((await me(fx.server, signedIn.accessToken)).body.data?.me.emailVerified).toBe(true);
      expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(true);

      const events = await prisma().securityEvent.findMany({ where: { userId: t.user.id }, select: { type: true, userAgent: true } });
      expect(events.filter((e) => e.type === 'EMAIL_VERIFIED')).toHaveLength(1);
      expect(events).toContainEqual({ type: 'SIGNED_IN', userAgent: 'magic-browser/1.0' });
      const audit = await prisma().auditEntry.findMany({ where: { targetUserId: t.user.id, action: 'user.email_verified' } });
      expect(audit.map((a) => a.details)).toEqual([{ method: 'magic_link' }]);
      // A new device: the new sign-in notice went out as for any sign-in.
      await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /new sign-in/i.test(m.subject), 10_000);
    });

    it('answers the same for an unknown address and mails it nothing', async () => {
      const before = fx.mail.delivered.length;
      const unknown = await rest(fx.server, 'POST', '/auth/magic-link/request', { email: 'nobody.magic@example.com' });
      const viaGraphQL = await gql(fx.server, REQUEST, { e: 'nobody.magic@example.com' });
      expect(unknown.status).toBe(202);
      expect(unknown.body).toBeUndefined();
      expect(viaGraphQL.body).toEqual({ data: { requestMagicLink: true } });
      await drained();
      expect(fx.mail.delivered.slice(before).filter((m) => sentTo(m, 'nobody.magic'))).toEqual([]);
    });

    it('a link works once, through either door', async () => {
      const t = await register(fx.server);
      const token = await linkFor(t.user.email);
      expect((await signIn(token)).body.data?.signInWithMagicLink).toMatchObject({ __typename: 'AuthPayload', user: { id: t.user.id } });
      expect(codeOf((await signIn(token)).body)).toBe('INVALID_TOKEN');
      const again = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token });
      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ code: 'INVALID_TOKEN' });
    });

    it('race: three uses of one link at once open exactly one session', async () => {
      const t = await register(fx.server);
      const token = await linkFor(t.user.email);
      const before = await prisma().session.count({ where: { userId: t.user.id } });
      const results = await Promise.all([1, 2, 3].map(() => signIn(token)));
      expect(results.filter((r) => r.body.data).length).toBe(1);
      expect(results.filter((r) => codeOf(r.body) === 'INVALID_TOKEN').length).toBe(2);
      expect(await prisma().session.count({ where: { userId: t.user.id } })).toBe(before + 1);
    });

    it('refuses an expired link', async () => {
      const t = await register(fx.server);
      const token = await linkFor(t.user.email);
      await prisma().oneTimeToken.updateMany({ where: { userId: t.user.id, purpose: 'MAGIC_LINK' }, data: { expiresAt: new Date(Date.now() - 1) } });
      expect(codeOf((await signIn(token)).body)).toBe('INVALID_TOKEN');
      expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(false);
    });

    it('a newer link voids the older one', async () => {
      const t = await register(fx.server);
      const first = await linkFor(t.user.email);
      const second = await linkFor(t.user.email, first);
      expect(codeOf((await signIn(first)).body)).toBe('INVALID_TOKEN');
      expect(codeOf((await signIn(second)).body)).toBeUndefined();
    });

    it('refuses unknown and malformed tokens, and a malformed address', async () => {
      for (const token of ['A'.repeat(43), 'nope', '']) expect(codeOf((await signIn(token)).body)).toMatch(/^(INVALID_TOKEN|BAD_USER_INPUT)$/);
      const bad = await rest(fx.server, 'POST', '/auth/magic-link/request', { email: 'not-an-email' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'BAD_USER_INPUT', fields: { email: expect.any(String) } });
    });
  });

  describe('two-factor sign-in', () => {
    it('answers with an MFA challenge and opens no session until the code; the address is verified all the same', async () => {
      const id = newIdentity('magicmfa');
      const t = await register(fx.server, id);
      await verifyEmailOf(fx.server, fx.mail, t.user.email);
      const start = (await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, 'mutation { startTotpEnrollment { secret } }', undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment;
      await gql(fx.server, 'mutation C($c: String!) { confirmTotpEnrollment(code: $c) }', { c: totpAt(start.secret, stepNow() - 1) }, bearer(t.accessToken));
      const sessions = () => prisma().session.count({ where: { userId: t.user.id } });
      const before = await sessions();

      const first = await linkFor(t.user.email);
      const viaGraphQL = (await signIn(first)).body.data!.signInWithMagicLink;
      expect(viaGraphQL).toMatchObject({ __typename: 'MfaChallenge', methods: ['TOTP', 'RECOVERY_CODE'] });
      expect(viaGraphQL.mfaToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const viaRest = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token: await linkFor(t.user.email, first) });
      expect(viaRest.status).toBe(200);
      expect(viaRest.body).toEqual({ mfaRequired: true, mfaToken: expect.any(String), methods: ['TOTP', 'RECOVERY_CODE'] });
      expect(viaRest.body).not.toHaveProperty('accessToken');
      expect(await sessions()).toBe(before);

      const done = await gql<{ completeMfaLogin: { accessToken: string } }>(fx.server, COMPLETE, { i: { mfaToken: viaGraphQL.mfaToken, code: totpAt(start.secret, stepNow()) } });
      expect(done.body.data?.completeMfaLogin.accessToken).toBeTruthy();
      expect(await sessions()).toBe(before + 1);
    });

    it('marks an unverified address verified when it answers with a challenge', async () => {
      const t = await register(fx.server);
      // Two-factor sign-in needs a verified address to be turned on; an account that has it and lost the
      // verification (an address change to come) is what this case stands for.
      await prisma().user.update({ where: { id: t.user.id }, data: { mfaEnabledAt: new Date() } });
      const token = await linkFor(t.user.email);
      expect((await signIn(token)).body.data?.signInWithMagicLink.__typename).toBe('MfaChallenge');
      expect((await prisma().user.findUniqueOrThrow({ where: { id: t.user.id } })).emailVerifiedAt).not.toBeNull();
      expect(await prisma().securityEvent.count({ where: { userId: t.user.id, type: 'EMAIL_VERIFIED' } })).toBe(1);
    });
  });

  describe('account standing', () => {
    it('refuses a disabled account (REST 403) without using the link, which works once the account is enabled again', async () => {
      const t = await register(fx.server);
      const token = await linkFor(t.user.email);
      await prisma().user.update({ where: { id: t.user.id }, data: { disabledAt: new Date(), disabledReason: 'test' } });
      await fx.server.services.identity.accountChanged(t.user.id);
      expect(codeOf((await signIn(token)).body)).toBe('ACCOUNT_DISABLED');
      const viaRest = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token });
      expect(viaRest.status).toBe(403);
      expect(viaRest.body).toMatchObject({ code: 'ACCOUNT_DISABLED' });
      const row = await prisma().oneTimeToken.findFirstOrThrow({ where: { userId: t.user.id, purpose: 'MAGIC_LINK' } });
      expect(row.consumedAt).toBeNull();
      expect((await prisma().user.findUniqueOrThrow({ where: { id: t.user.id } })).emailVerifiedAt).toBeNull();

      await prisma().user.update({ where: { id: t.user.id }, data: { disabledAt: null, disabledReason: null } });
      await fx.server.services.identity.accountChanged(t.user.id);
      expect((await signIn(token)).body.data?.signInWithMagicLink.__typename).toBe('AuthPayload');
    });

    it('mails a disabled account no link', async () => {
      const t = await register(fx.server);
      await prisma().user.update({ where: { id: t.user.id }, data: { disabledAt: new Date(), disabledReason: 'test' } });
      expect((await rest(fx.server, 'POST', '/auth/magic-link/request', { email: t.user.email })).status).toBe(202);
      await drained();
      expect(await prisma().oneTimeToken.count({ where: { userId: t.user.id, purpose: 'MAGIC_LINK' } })).toBe(0);
      expect(await prisma().emailMessage.count({ where: { userId: t.user.id, template: 'magic-link' } })).toBe(0);
    });
  });

  describe('limits', () => {
    it('limits requests per submitted address, known or not (5 per hour by default), on both doors', async () => {
      for (const email of ['limit.magic@example.com', (await register(fx.server)).user.email]) {
        for (let i = 0; i < 5; i++) expect((await rest(fx.server, 'POST', '/auth/magic-link/request', { email })).status).toBe(202);
        const limited = await rest(fx.server, 'POST', '/auth/magic-link/request', { email: email.toUpperCase().replace('@EXAMPLE.COM', '@example.com') });
        expect(limited.status).toBe(429);
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(limited.body).toMatchObject({ code: 'RATE_LIMITED' });
        const viaGraphQL = await gql(fx.server, REQUEST, { e: email });
        expect(codeOf(viaGraphQL.body)).toBe('RATE_LIMITED');
      }
    });
  });
});
