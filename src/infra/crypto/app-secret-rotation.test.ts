import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearer, codeOf, login, me, newIdentity, register } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';
import { stepNow, totpAt } from '../../test/totp.js';

const START = 'mutation { startTotpEnrollment { secret } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';
const VERIFY = 'mutation V($t: String!) { verifyEmail(token: $t) { emailVerified } }';

/**
 * APP_SECRET rotates: everything made under the old secret (password hashes, sealed TOTP secrets and
 * email links, recovery-code MACs) keeps working under the new one while the old is listed in
 * APP_SECRET_PREVIOUS, and a sign-in moves the password hash to the new pepper.
 */
describe('APP_SECRET rotation', () => {
  const A = randomBytes(32).toString('base64');
  const B = randomBytes(32).toString('base64');
  const fx = useTestServers('rotate', { mail: true });
  let before: TestServer | undefined;
  let after: TestServer | undefined;

  const pepperId = async (server: TestServer, userId: string) =>
    (await server.infra.prisma.user.findUniqueOrThrow({ where: { id: userId } })).passwordHash.slice(-8);

  it('opens and verifies what the old secret made, and re-peppers the password at the next sign-in', async () => {
    // Secret A: a user with TOTP and recovery codes, another without; both verification emails still queued.
    before = await fx.start({ workers: false, env: { APP_SECRET: A } });
    const mfaUser = newIdentity('rotmfa');
    const plainUser = newIdentity('rotplain');
    const m = await register(before, mfaUser);
    const p = await register(before, plainUser);
    // Enrolling needs a verified address; the mail that would verify it stays queued under A (workers off),
    // so the address is marked verified here and its sealed link is still checked after the restart.
    await before.infra.prisma.user.update({ where: { id: m.user.id }, data: { emailVerifiedAt: new Date() } });
    const secret = (await gql<{ startTotpEnrollment: { secret: string } }>(before, START, undefined, bearer(m.accessToken))).body.data!.startTotpEnrollment.secret;
    const codes = (await gql<{ confirmTotpEnrollment: string[] }>(before, CONFIRM, { code: totpAt(secret, stepNow() - 1) }, bearer(m.accessToken))).body.data!.confirmTotpEnrollment;
    expect(codes).toHaveLength(10);
    const idA = before.infra.appSecrets.ring('password-pepper').current.id;
    expect(await pepperId(before, m.user.id)).toBe(idA);
    await before.close();
    before = undefined;

    // Restart with secret B, A kept as previous: B's workers deliver the mail A sealed.
    after = await fx.start({ env: { APP_SECRET: B, APP_SECRET_PREVIOUS: A } });
    const idB = after.infra.appSecrets.ring('password-pepper').current.id;
    expect(idB).not.toBe(idA);
    for (const t of [m, p]) {
      const mail = await fx.mail.waitForDelivery((msg) => sentTo(msg, t.user.email) && /verify/i.test(msg.subject), 15_000);
      expect((await gql(after, VERIFY, { t: tokenIn(mail.text) })).body.data).toEqual({ verifyEmail: { emailVerified: true } });
    }

    // The old password verifies; the sign-in re-peppers it with B (also when MFA stands between).
    const signedIn = await login(after, plainUser.username, plainUser.password);
    expect(codeOf(signedIn.body)).toBeUndefined();
    expect(await pepperId(after, p.user.id)).toBe(idB);
    const challenge = async () => (await gql<{ login: { __typename: string; mfaToken: string } }>(after!, LOGIN, { i: { identifier: mfaUser.email, password: mfaUser.password } })).body.data!.login;
    const c1 = await challenge();
    expect(c1.__typename).toBe('MfaChallenge');
    expect(await pepperId(after, m.user.id)).toBe(idB);

    // The TOTP secret sealed under A opens; the recovery codes MACed under A verify.
    const done = await gql<{ completeMfaLogin: { accessToken: string } }>(after, COMPLETE, { i: { mfaToken: c1.mfaToken, code: totpAt(secret, stepNow()) } });
    expect(codeOf(done.body)).toBeUndefined();
    expect((await me(after, done.body.data!.completeMfaLogin.accessToken)).body.data?.me.emailVerified).toBe(true);
    const c2 = await challenge();
    expect(codeOf((await gql(after, COMPLETE, { i: { mfaToken: c2.mfaToken, code: codes[0] } })).body)).toBeUndefined();

    // And the new password hashes still verify after the restart.
    expect(codeOf((await login(after, plainUser.email, plainUser.password)).body)).toBeUndefined();
  });
});
