import { describe, expect, it } from 'vitest';
import { bearer, codeOf, me, newIdentity, refresh, register } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, verifyEmailOf } from '../../test/mail-server.js';
import { stepNow, totpAt } from '../../test/totp.js';

const START = 'mutation { startTotpEnrollment { secret } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const DISABLE = 'mutation D($code: String!) { disableTotp(code: $code) }';
const REAUTH = 'mutation R($password: String!, $code: String) { reauthenticate(password: $password, code: $code) }';
const LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken } ... on AuthPayload { accessToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';

/** Second factors against a stolen access token, and against a stolen password. */
describe('MFA security', () => {
  // A low lockout threshold, so the tests reach it; the MFA rate limit stays out of the way.
  const fx = useTestServer('mfasec', { mail: true, env: { LOCKOUT_THRESHOLD: '6' } });

  const call = (query: string, variables: Record<string, unknown> | undefined, token: string) => gql(fx.server, query, variables, bearer(token));
  /** The sign-in of every session of the user happened long ago (as if the token were stolen later). */
  const ageSessions = (userId: string) =>
    fx.server.infra.prisma.session.updateMany({ where: { userId }, data: { authenticatedAt: new Date(Date.now() - 11 * 60_000) } });

  async function verifiedUser(label: string) {
    const id = newIdentity(label);
    const t = await register(fx.server, id);
    await verifyEmailOf(fx.server, fx.mail, t.user.email);
    return { id, t };
  }

  async function enrolled(label: string) {
    const { id, t } = await verifiedUser(label);
    const secret = ((await call(START, undefined, t.accessToken)).body.data as { startTotpEnrollment: { secret: string } }).startTotpEnrollment.secret;
    const codes = ((await call(CONFIRM, { code: totpAt(secret, stepNow() - 1) }, t.accessToken)).body.data as { confirmTotpEnrollment: string[] }).confirmTotpEnrollment;
    return { id, t, secret, codes };
  }

  const challenge = async (identifier: string, password: string) =>
    ((await gql<{ login: { __typename: string; mfaToken: string } }>(fx.server, LOGIN, { i: { identifier, password } })).body.data!.login);
  const complete = (mfaToken: string, code: string) => gql(fx.server, COMPLETE, { i: { mfaToken, code } });

  describe('enrolling and disabling need a recent sign-in', () => {
    it('a stolen access token cannot turn MFA on: start and confirm answer REAUTHENTICATION_REQUIRED, a refresh does not help, reauthenticate does', async () => {
      const { id, t } = await verifiedUser('stolen');
      await ageSessions(t.user.id);
      expect(codeOf((await call(START, undefined, t.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      // A refresh keeps the session's sign-in time: the new token is no more recent than the old one.
      const refreshed = (await refresh(fx.server, t.refreshToken)).body.data!.refresh;
      expect(codeOf((await call(START, undefined, refreshed.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      expect((await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } })).totpSecretEnc).toBeNull();

      expect(codeOf((await call(REAUTH, { password: 'not the password' }, refreshed.accessToken)).body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf((await call(START, undefined, refreshed.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      expect((await call(REAUTH, { password: id.password }, refreshed.accessToken)).body.data).toEqual({ reauthenticate: true });
      const secret = ((await call(START, undefined, refreshed.accessToken)).body.data as { startTotpEnrollment: { secret: string } }).startTotpEnrollment.secret;

      // Confirming is guarded too: an enrollment started earlier cannot be finished with an old sign-in.
      await ageSessions(t.user.id);
      expect(codeOf((await call(CONFIRM, { code: totpAt(secret, stepNow()) }, refreshed.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      expect((await me(fx.server, refreshed.accessToken)).body.data?.me.mfaEnabled).toBe(false);
      expect(await fx.server.infra.prisma.recoveryCode.count({ where: { userId: t.user.id } })).toBe(0);
    });

    it('MFA enrollment needs a verified email address', async () => {
      const id = newIdentity('unverified');
      const t = await register(fx.server, id);
      expect(codeOf((await call(START, undefined, t.accessToken)).body)).toBe('FORBIDDEN');
      expect((await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } })).totpSecretEnc).toBeNull();
      await verifyEmailOf(fx.server, fx.mail, t.user.email);
      expect(codeOf((await call(START, undefined, t.accessToken)).body)).toBeUndefined();
    });

    it('disabling needs a recent sign-in; with MFA on, reauthenticate needs the password and a current code and answers alike otherwise', async () => {
      const { id, t, secret, codes } = await enrolled('disable');
      await ageSessions(t.user.id);
      expect(codeOf((await call(DISABLE, { code: codes[0]! }, t.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      expect((await me(fx.server, t.accessToken)).body.data?.me.mfaEnabled).toBe(true);

      const attempts = [
        { password: id.password },
        { password: id.password, code: '000000' },
        { password: 'not the password', code: codes[1]! },
        { password: 'not the password' },
      ];
      const answers = [];
      for (const a of attempts) answers.push((await call(REAUTH, a, t.accessToken)).body);
      for (const a of answers) expect(a).toEqual(answers[0]);
      expect(codeOf(answers[0]!)).toBe('INVALID_CREDENTIALS');
      // The recovery code sent with a wrong password was not used up.
      expect((await call(REAUTH, { password: id.password, code: codes[1]! }, t.accessToken)).body.data).toEqual({ reauthenticate: true });
      expect((await call(DISABLE, { code: totpAt(secret, stepNow()) }, t.accessToken)).body.data).toEqual({ disableTotp: true });
    });
  });

  describe('the owner who lost the second factor', () => {
    it('gets it reset by an operator (service): MFA off, MFA_DISABLED recorded with the operator, the owner emailed', async () => {
      const { id, t } = await enrolled('reset');
      expect(await fx.server.services.mfa.resetMfa(t.user.id, 'operator alice')).toBe(true);
      expect((await me(fx.server, t.accessToken)).body.data?.me.mfaEnabled).toBe(false);
      expect(await fx.server.infra.prisma.recoveryCode.count({ where: { userId: t.user.id } })).toBe(0);
      const row = await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } });
      expect(row.totpSecretEnc).toBeNull();
      const event = await fx.server.infra.prisma.securityEvent.findFirstOrThrow({ where: { userId: t.user.id, type: 'MFA_DISABLED' } });
      expect(event.data).toEqual({ by: 'operator', actor: 'operator alice' });
      await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /two-factor/i.test(m.subject) && /off/.test(m.text ?? ''), 10_000);
      expect((await challenge(id.username, id.password)).__typename).toBe('AuthPayload');
      // Nothing left to reset; bad input and unknown accounts are refused.
      expect(await fx.server.services.mfa.resetMfa(t.user.id, 'operator alice')).toBe(false);
      await expect(fx.server.services.mfa.resetMfa('not-an-id', 'operator alice')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      await expect(fx.server.services.mfa.resetMfa(t.user.id, ' ')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      await expect(fx.server.services.mfa.resetMfa('00000000-0000-4000-8000-000000000000', 'operator alice')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('guessing codes with a stolen password', () => {
    it('wrong codes add up across challenges to the account lockout; then even the right code is refused', async () => {
      const { id, t, secret } = await enrolled('lockout');
      const first = await challenge(id.username, id.password);
      for (let i = 0; i < 3; i++) expect(codeOf((await complete(first.mfaToken, String(200000 + i))).body)).toBe('INVALID_TOKEN');
      // A new challenge (the right password again) does not start the count again.
      const second = await challenge(id.username, id.password);
      expect(second.__typename).toBe('MfaChallenge');
      for (let i = 0; i < 3; i++) expect(codeOf((await complete(second.mfaToken, String(300000 + i))).body)).toBe('INVALID_TOKEN');
      // The sixth failure locked the account: the right code and the right password both wait.
      expect(codeOf((await complete(second.mfaToken, totpAt(secret, stepNow()))).body)).toBe('ACCOUNT_LOCKED');
      const login = await gql(fx.server, LOGIN, { i: { identifier: id.username, password: id.password } });
      expect(codeOf(login.body)).toBe('ACCOUNT_LOCKED');
      expect(await fx.server.infra.prisma.securityEvent.count({ where: { userId: t.user.id, type: 'ACCOUNT_LOCKED' } })).toBe(1);
    });

    it('a right code from a new device starts the account count again (it is not a known device until that sign-in)', async () => {
      const { id, secret } = await enrolled('newdevice');
      const from = (client: string) => ({ 'user-agent': client });
      const elsewhere = async (client: string, password: string) =>
        (await gql<{ login: { __typename: string; mfaToken: string } }>(fx.server, LOGIN, { i: { identifier: id.username, password } }, from(client))).body;
      // Four wrong codes from a device the account has never used: they count under the account.
      const first = (await elsewhere('new-device/1', id.password)).data!.login;
      for (let i = 0; i < 4; i++) expect(codeOf((await gql(fx.server, COMPLETE, { i: { mfaToken: first.mfaToken, code: String(500000 + i) } }, from('new-device/1'))).body)).toBe('INVALID_TOKEN');
      expect(codeOf((await gql(fx.server, COMPLETE, { i: { mfaToken: first.mfaToken, code: totpAt(secret, stepNow()) } }, from('new-device/1'))).body)).toBeUndefined();
      // The owner is in, so the count is back to zero: two typos from yet another device do not reach the threshold (6).
      for (let i = 0; i < 2; i++) expect(codeOf(await elsewhere('new-device/2', 'not the password'))).toBe('INVALID_CREDENTIALS');
      expect((await elsewhere('new-device/2', id.password)).data?.login.__typename).toBe('MfaChallenge');
    });

    it('five wrong codes void the challenge; each is recorded as MFA_CHALLENGE_FAILED, and the owner is emailed once', async () => {
      const { id, t, secret } = await enrolled('void');
      const c = await challenge(id.username, id.password);
      for (let i = 0; i < 5; i++) expect(codeOf((await complete(c.mfaToken, String(400000 + i))).body)).toBe('INVALID_TOKEN');
      // Void: not even the right code opens it now.
      expect(codeOf((await complete(c.mfaToken, totpAt(secret, stepNow()))).body)).toBe('INVALID_TOKEN');
      const events = await fx.server.infra.prisma.securityEvent.findMany({ where: { userId: t.user.id, type: 'MFA_CHALLENGE_FAILED' } });
      const data = events.map((e) => e.data as { failures: number; voided: boolean }).sort((x, y) => x.failures - y.failures);
      expect(data).toEqual([1, 2, 3, 4, 5].map((n) => ({ failures: n, voided: n === 5 })));
      expect(await fx.server.infra.prisma.emailMessage.count({ where: { userId: t.user.id, template: 'mfa-code-failed' } })).toBe(1);
      await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /has your password/i.test(m.subject), 10_000);
      // The owner, with the password and the code, signs in as usual.
      const fresh = await challenge(id.username, id.password);
      expect(codeOf((await complete(fresh.mfaToken, totpAt(secret, stepNow()))).body)).toBeUndefined();
    });
  });
});
