import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveKey } from '../../infra/crypto/secrets.js';
import { bearer, codeOf, me, newIdentity, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn, verifyEmailOf } from '../../test/mail-server.js';
import { subscribe } from '../../test/subscriber.js';
import { stepNow, totpAt } from '../../test/totp.js';

const START = 'mutation { startTotpEnrollment { secret otpauthUrl qrCodeSvg } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const DISABLE = 'mutation D($code: String!) { disableTotp(code: $code) }';
const LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken methods } ... on AuthPayload { accessToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken refreshToken user { mfaEnabled } } }';

type Challenge = { __typename: string; mfaToken: string; methods: string[]; accessToken?: string };

describe('multi-factor authentication', () => {
  const fx = useTestServer('mfa', { mail: true, env: { RATE_LIMIT_MFA: '5/300', MFA_ISSUER: 'Latchkey Test' } });

  /** A user with TOTP on: its secret and recovery codes. The confirming code uses the previous step. */
  async function enrolled() {
    const id = newIdentity('mfa');
    const t = await register(fx.server, id);
    // Enrollment needs a verified address (and a recent sign-in: the sign-up just opened the session).
    await verifyEmailOf(fx.server, fx.mail, t.user.email);
    const start = (await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, START, undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment;
    const codes = (await gql<{ confirmTotpEnrollment: string[] }>(fx.server, CONFIRM, { code: totpAt(start.secret, stepNow() - 1) }, bearer(t.accessToken))).body.data!.confirmTotpEnrollment;
    return { id, t, secret: start.secret, codes };
  }
  const challenge = async (identifier: string, password: string) => (await gql<{ login: Challenge }>(fx.server, LOGIN, { i: { identifier, password } })).body.data!.login;
  const complete = (mfaToken: string, code: string) => gql<{ completeMfaLogin: { accessToken: string; user: { mfaEnabled: boolean } } }>(fx.server, COMPLETE, { i: { mfaToken, code } });

  describe('enrollment', () => {
    it('returns a secret, its otpauth URL and an SVG QR code; nothing is active until confirmed', async () => {
      const id = newIdentity('enroll');
      const t = await register(fx.server, id);
      await verifyEmailOf(fx.server, fx.mail, t.user.email);
      const sub = await subscribe(fx.server.wsUrl, t.accessToken);
      try {
        const res = await gql<{ startTotpEnrollment: { secret: string; otpauthUrl: string; qrCodeSvg: string } }>(fx.server, START, undefined, bearer(t.accessToken));
        const e = res.body.data!.startTotpEnrollment;
        expect(e.secret).toMatch(/^[A-Z2-7]{32}$/);
        const url = new URL(e.otpauthUrl);
        expect(url.protocol).toBe('otpauth:');
        expect(url.searchParams.get('secret')).toBe(e.secret);
        expect(url.searchParams.get('issuer')).toBe('Latchkey Test');
        expect(e.qrCodeSvg.trim().startsWith('<svg')).toBe(true);
        expect((await me(fx.server, t.accessToken)).body.data?.me.mfaEnabled).toBe(false);
        expect((await challenge(id.username, id.password)).__typename).toBe('AuthPayload');

        const row = await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } });
        expect(Buffer.from(row.totpSecretEnc!).toString('utf8')).not.toContain(e.secret);

        expect(codeOf((await gql(fx.server, CONFIRM, { code: '000000' }, bearer(t.accessToken))).body)).toBe('INVALID_TOKEN');
        const codes = (await gql<{ confirmTotpEnrollment: string[] }>(fx.server, CONFIRM, { code: totpAt(e.secret, stepNow()) }, bearer(t.accessToken))).body.data!.confirmTotpEnrollment;
        expect(codes).toHaveLength(10);
        expect(new Set(codes).size).toBe(10);
        // 25 base32 characters (125 bits) in five groups (were two groups of five, 50 bits).
        for (const c of codes) expect(c).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{5}){4}$/);
        expect((await me(fx.server, t.accessToken)).body.data?.me.mfaEnabled).toBe(true);
        const stored = await fx.server.infra.prisma.recoveryCode.findMany({ where: { userId: t.user.id } });
        expect(stored).toHaveLength(10);
        for (const c of codes) expect(JSON.stringify(stored)).not.toContain(c.replaceAll('-', ''));

        await sub.next((ev) => ev.type === 'MFA_ENABLED', 2_000);
        await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /two-factor/i.test(m.subject), 10_000);
      } finally {
        sub.dispose();
      }
    });
  });

  describe('login', () => {
    it('answers MfaChallenge instead of tokens, then AuthPayload for a valid code; a code works once', async () => {
      const { id, t, secret } = await enrolled();
      const sessionsBefore = await fx.server.infra.prisma.session.count({ where: { userId: t.user.id } });
      const c1 = await challenge(id.email, id.password);
      expect(c1).toMatchObject({ __typename: 'MfaChallenge', methods: ['TOTP', 'RECOVERY_CODE'] });
      expect(c1.mfaToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await fx.server.infra.prisma.session.count({ where: { userId: t.user.id } })).toBe(sessionsBefore);

      const code = totpAt(secret, stepNow());
      const done = await complete(c1.mfaToken, code);
      expect(done.body.data?.completeMfaLogin.user.mfaEnabled).toBe(true);
      expect((await me(fx.server, done.body.data!.completeMfaLogin.accessToken)).body.data?.me.id).toBe(t.user.id);
      // The challenge is single use, and the same code is not accepted again (replay inside its window).
      expect(codeOf((await complete(c1.mfaToken, totpAt(secret, stepNow() + 1))).body)).toBe('INVALID_TOKEN');
      const c2 = await challenge(id.username, id.password);
      expect(codeOf((await complete(c2.mfaToken, code)).body)).toBe('INVALID_TOKEN');
      expect(codeOf((await complete(c2.mfaToken, totpAt(secret, stepNow() + 1))).body)).toBeUndefined();
    });

    it('cookie mode: the challenge passes through, and the second step sets the session cookie instead of answering the refresh token', async () => {
      const { id, secret } = await enrolled();
      const cookieMode = { 'x-latchkey-session': 'cookie' };
      const first = await rest(fx.server, 'POST', '/auth/login', { identifier: id.username, password: id.password }, cookieMode);
      expect(first.body).toMatchObject({ mfaRequired: true });
      expect(first.headers.getSetCookie()).toEqual([]);
      const done = await rest(fx.server, 'POST', '/auth/login/mfa', { mfaToken: first.body!.mfaToken, code: totpAt(secret, stepNow()) }, cookieMode);
      expect(done.status).toBe(200);
      expect(done.body).not.toHaveProperty('refreshToken');
      expect(done.headers.getSetCookie()).toEqual([expect.stringMatching(/^(__Host-)?latchkey_refresh=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; (Secure; )?SameSite=Strict$/)]);
    });

    it('accepts a recovery code once', async () => {
      const { id, codes } = await enrolled();
      const c1 = await challenge(id.username, id.password);
      expect(codeOf((await complete(c1.mfaToken, codes[3]!.toUpperCase())).body)).toBeUndefined();
      const c2 = await challenge(id.username, id.password);
      expect(codeOf((await complete(c2.mfaToken, codes[3]!)).body)).toBe('INVALID_TOKEN');
      expect(codeOf((await complete(c2.mfaToken, codes[4]!)).body)).toBeUndefined();
    });

    it('issues recovery codes of at least 112 bits, stored as keyed hashes naming their key', async () => {
      const { t, codes } = await enrolled();
      for (const c of codes) expect(c.replaceAll('-', '').length * 5).toBeGreaterThanOrEqual(112);
      const stored = await fx.server.infra.prisma.recoveryCode.findMany({ where: { userId: t.user.id } });
      const keyId = fx.server.infra.appSecrets.ring('token-mac').current.id;
      for (const row of stored) expect(Buffer.from(row.codeHash).subarray(0, 8).toString('ascii')).toBe(keyId);
    });

    it('still accepts, once, a 10-character recovery code issued before codes grew', async () => {
      const { id, t } = await enrolled();
      const old = 'k7m2qw5xzp';
      // What enrollment stored then: HMAC-SHA-256 under the token-mac key, no key id.
      const codeHash = new Uint8Array(createHmac('sha256', deriveKey(fx.server.infra.appSecret, 'token-mac')).update(old).digest());
      await fx.server.infra.prisma.recoveryCode.create({ data: { userId: t.user.id, codeHash } });
      const c1 = await challenge(id.username, id.password);
      expect(codeOf((await complete(c1.mfaToken, 'K7M2Q-W5XZP')).body)).toBeUndefined();
      const c2 = await challenge(id.username, id.password);
      expect(codeOf((await complete(c2.mfaToken, old)).body)).toBe('INVALID_TOKEN');
    });

    it('refuses an expired challenge, and a wrong code', async () => {
      const { id, t, secret } = await enrolled();
      const c = await challenge(id.username, id.password);
      expect(codeOf((await complete(c.mfaToken, '123456')).body)).toBe('INVALID_TOKEN');
      await fx.server.infra.prisma.oneTimeToken.updateMany({ where: { userId: t.user.id, purpose: 'MFA_CHALLENGE' }, data: { expiresAt: new Date(Date.now() - 1000) } });
      expect(codeOf((await complete(c.mfaToken, totpAt(secret, stepNow()))).body)).toBe('INVALID_TOKEN');
    });

    it('limits code guesses per challenge and per account', async () => {
      const { id, secret } = await enrolled();
      // A right code gives its attempt back, so the confirmation no longer counts: one wrong code on an
      // earlier challenge takes its place as the first of the five.
      expect(codeOf((await complete((await challenge(id.username, id.password)).mfaToken, '999999')).body)).toBe('INVALID_TOKEN');
      const c = await challenge(id.username, id.password);
      const codes = [];
      for (let i = 0; i < 6; i++) codes.push(codeOf((await complete(c.mfaToken, String(100000 + i))).body));
      // Five code checks per account per window, and the wrong code above was the first of them.
      expect(codes.slice(0, 4)).toEqual(Array(4).fill('INVALID_TOKEN'));
      expect(codes.slice(4)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
      // A fresh challenge does not reset the account's count: even the right code waits.
      const fresh = await challenge(id.username, id.password);
      expect(codeOf((await complete(fresh.mfaToken, totpAt(secret, stepNow()))).body)).toBe('RATE_LIMITED');
    });

    it('right codes do not use up the per-account budget: six MFA sign-ins within the window all succeed', async () => {
      const { id, codes } = await enrolled();
      for (let i = 0; i < 6; i++) {
        const c = await challenge(id.username, id.password);
        expect(codeOf((await complete(c.mfaToken, codes[i]!)).body)).toBeUndefined();
      }
    });

    it('works through the REST shim', async () => {
      const { id, secret } = await enrolled();
      for (const base of ['/auth', '/v1/auth']) {
        const first = await rest(fx.server, 'POST', `${base}/login`, { email: id.email, password: id.password });
        expect(first.status).toBe(200);
        expect(first.body).toMatchObject({ mfaRequired: true, methods: ['TOTP', 'RECOVERY_CODE'] });
        expect(first.body).not.toHaveProperty('accessToken');
        const step = base === '/auth' ? stepNow() : stepNow() + 1;
        const second = await rest(fx.server, 'POST', `${base}/login/mfa`, { mfaToken: first.body!.mfaToken, code: totpAt(secret, step) });
        expect(second.status).toBe(200);
        expect(second.body).toHaveProperty('accessToken');
      }
      const bad = await rest(fx.server, 'POST', '/auth/login/mfa', { mfaToken: 'x', code: 'nope' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'BAD_USER_INPUT' });
    });

    it('a password reset does not bypass the second factor', async () => {
      const { id, t } = await enrolled();
      await rest(fx.server, 'POST', '/auth/reset-password/request', { email: id.email });
      const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /reset/i.test(m.subject), 10_000);
      expect((await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token: tokenIn(mail.text), newPassword: 'a fresh long passphrase' })).status).toBe(204);
      expect((await challenge(id.username, 'a fresh long passphrase')).__typename).toBe('MfaChallenge');
    });
  });

  describe('step-up and disabling', () => {
    it('changePassword asks for a code when MFA is on, and answers alike whichever part is missing or wrong', async () => {
      const { id, t, secret } = await enrolled();
      const CHANGE = 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }';
      // A right password with a missing or wrong code answers exactly as a wrong password does: nothing
      // tells a token thief that the password was right.
      const without = await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: 'another long passphrase' } }, bearer(t.accessToken));
      expect(codeOf(without.body)).toBe('INVALID_CREDENTIALS');
      expect(without.body.errors?.[0]?.extensions?.fields).toBeUndefined();
      const wrong = await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: 'another long passphrase', code: '000000' } }, bearer(t.accessToken));
      expect(codeOf(wrong.body)).toBe('INVALID_CREDENTIALS');
      const wrongPassword = await gql(fx.server, CHANGE, { i: { currentPassword: 'not the password', newPassword: 'another long passphrase', code: totpAt(secret, stepNow()) } }, bearer(t.accessToken));
      expect(wrongPassword.body).toEqual(wrong.body);
      const ok = await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: 'another long passphrase', code: totpAt(secret, stepNow()) } }, bearer(t.accessToken));
      expect(ok.body.data).toEqual({ changePassword: true });
    });

    it('disableTotp needs a current code, emits MFA_DISABLED, emails, and login is one step again', async () => {
      const { id, t, secret } = await enrolled();
      const sub = await subscribe(fx.server.wsUrl, t.accessToken);
      try {
        expect(codeOf((await gql(fx.server, DISABLE, { code: '000000' }, bearer(t.accessToken))).body)).toBe('INVALID_TOKEN');
        expect((await gql(fx.server, DISABLE, { code: totpAt(secret, stepNow()) }, bearer(t.accessToken))).body.data).toEqual({ disableTotp: true });
        await sub.next((e) => e.type === 'MFA_DISABLED', 2_000);
        await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /two-factor/i.test(m.subject) && /off/.test(m.text ?? ''), 10_000);
        expect((await challenge(id.username, id.password)).__typename).toBe('AuthPayload');
        expect(await fx.server.infra.prisma.recoveryCode.count({ where: { userId: t.user.id } })).toBe(0);
      } finally {
        sub.dispose();
      }
    });
  });
});
