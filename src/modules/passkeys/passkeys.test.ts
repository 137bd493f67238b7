import { describe, expect, it } from 'vitest';
import { bearer, codeOf, me, newIdentity, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, verifyEmailOf } from '../../test/mail-server.js';
import { addPasskey, DELETE, finishLogin, LIST, passkeySignIn, startLogin, startRegistration, finishRegistration, type PasskeyRow } from '../../test/passkey-client.js';
import { SoftAuthenticator } from '../../test/soft-authenticator.js';
import { stepNow, totpAt } from '../../test/totp.js';

// The mail fixture sets APP_URL=http://app.test.local: the RP id and origin default to its host and origin.
const ORIGIN = 'http://app.test.local';
const RP_ID = 'app.test.local';
const PHONE = { 'user-agent': 'PasskeyPhone/1.0 (a device never seen)' };

describe('PasskeysService', () => {
  const fx = useTestServer('passkeys', { mail: true });
  const prisma = () => fx.server.infra.prisma;
  const authenticator = () => new SoftAuthenticator({ origin: ORIGIN });
  const events = (userId: string, type: string) => prisma().securityEvent.findMany({ where: { userId, type: type as never } });
  const audit = (userId: string, action: string) => prisma().auditEntry.findMany({ where: { targetUserId: userId, action }, orderBy: { occurredAt: 'asc' } });
  const passkeyMail = (email: string, word: RegExp) =>
    fx.mail.waitForDelivery((m) => sentTo(m, email) && /passkeys of your account/i.test(m.subject) && word.test(m.text ?? ''), 10_000);

  describe('registration', () => {
    it('stores the passkey of a signed-in session (PASSKEY_ADDED, audit, email) with the RP and origin from APP_URL', async () => {
      const t = await register(fx.server, newIdentity('pk'));
      const auth = authenticator();
      const start = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      expect(start.options).toMatchObject({
        rp: { id: RP_ID },
        user: { name: t.user.username },
        attestation: 'none',
        authenticatorSelection: { userVerification: 'required', residentKey: 'preferred' },
        excludeCredentials: [],
      });
      const response = auth.create(start.options);
      const done = await finishRegistration(fx.server, t.accessToken, start.challengeId, response, 'My laptop');
      expect(done.body.errors).toBeUndefined();
      const row = done.body.data!.finishPasskeyRegistration;
      expect(row).toMatchObject({ name: 'My laptop', lastUsedAt: null });

      const stored = await prisma().passkey.findUniqueOrThrow({ where: { id: row.id } });
      expect(stored).toMatchObject({ userId: t.user.id, credentialId: response.id, counter: 0n, transports: ['internal'], name: 'My laptop' });
      expect(stored.publicKey.length).toBeGreaterThan(60);
      expect(await events(t.user.id, 'PASSKEY_ADDED')).toHaveLength(1);
      expect((await audit(t.user.id, 'user.passkey_added')).map((a) => [a.outcome, (a.details as { passkeyId: string }).passkeyId])).toEqual([['SUCCESS', row.id]]);
      const mail = await passkeyMail(t.user.email, /added/);
      expect(mail.text).toContain('My laptop');

      const listed = await gql<{ passkeys: PasskeyRow[] }>(fx.server, LIST, undefined, bearer(t.accessToken));
      expect(listed.body.data!.passkeys).toEqual([row]);
    });

    it('excludes the passkeys the account holds already; an unnamed one is called Passkey', async () => {
      const t = await register(fx.server, newIdentity('pkx'));
      const auth = authenticator();
      const first = await addPasskey(fx.server, auth, t.accessToken);
      expect(first.passkey.name).toBe('Passkey');
      const again = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      expect((again.options.excludeCredentials as { id: string }[]).map((c) => c.id)).toEqual([first.credentialId]);
    });

    it('needs a session, and a recent sign-in at both steps', async () => {
      expect(codeOf((await gql(fx.server, 'mutation { startPasskeyRegistration { challengeId } }')).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await gql(fx.server, '{ passkeys { id } }')).body)).toBe('UNAUTHENTICATED');
      const t = await register(fx.server, newIdentity('pkr'));
      const start = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      await prisma().session.updateMany({ where: { userId: t.user.id }, data: { authenticatedAt: new Date(Date.now() - 11 * 60_000) } });
      expect(codeOf((await startRegistration(fx.server, t.accessToken)).body)).toBe('REAUTHENTICATION_REQUIRED');
      const late = await finishRegistration(fx.server, t.accessToken, start.challengeId, authenticator().create(start.options));
      expect(codeOf(late.body)).toBe('REAUTHENTICATION_REQUIRED');
      expect(await prisma().passkey.count({ where: { userId: t.user.id } })).toBe(0);
    });

    it('with MFA on, needs a current code (a wrong one is refused and audited); the passkey then signs in without a code', async () => {
      const id = newIdentity('pkm');
      const t = await register(fx.server, id);
      await verifyEmailOf(fx.server, fx.mail, t.user.email);
      const enrollment = (await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, 'mutation { startTotpEnrollment { secret } }', undefined, bearer(t.accessToken))).body.data!
        .startTotpEnrollment;
      const confirm = await gql(fx.server, 'mutation C($c: String!) { confirmTotpEnrollment(code: $c) }', { c: totpAt(enrollment.secret, stepNow() - 1) }, bearer(t.accessToken));
      expect(confirm.body.errors).toBeUndefined();

      expect(codeOf((await startRegistration(fx.server, t.accessToken)).body)).toBe('BAD_USER_INPUT');
      expect(codeOf((await startRegistration(fx.server, t.accessToken, '000000')).body)).toBe('INVALID_TOKEN');
      expect((await audit(t.user.id, 'user.passkey_added')).map((a) => [a.outcome, (a.details as { reason?: string }).reason])).toEqual([['FAILURE', 'invalid_code']]);
      const auth = authenticator();
      await addPasskey(fx.server, auth, t.accessToken, { code: totpAt(enrollment.secret, stepNow()) });

      const signedIn = await passkeySignIn(fx.server, auth);
      expect(signedIn.body.errors).toBeUndefined();
      expect(signedIn.body.data!.finishPasskeyLogin.user).toMatchObject({ id: t.user.id, mfaEnabled: true });
    });
  });

  describe('sign-in', () => {
    it('without a name (discoverable): a session like any sign-in, SIGNED_IN, the new-device email, the counter and last use stored', async () => {
      const t = await register(fx.server, newIdentity('pks'));
      const auth = authenticator();
      const { passkey } = await addPasskey(fx.server, auth, t.accessToken);

      const start = (await startLogin(fx.server, undefined, PHONE)).body.data!.startPasskeyLogin;
      expect(start.options).toMatchObject({ rpId: RP_ID, userVerification: 'required' });
      expect(start.options.allowCredentials ?? []).toEqual([]);
      const res = await finishLogin(fx.server, start.challengeId, auth.assert(start.options, { counter: 7 }), PHONE);
      expect(res.body.errors).toBeUndefined();
      const payload = res.body.data!.finishPasskeyLogin;
      expect(payload.user.id).toBe(t.user.id);
      expect((await me(fx.server, payload.accessToken)).body.data?.me.id).toBe(t.user.id);

      const signedIn = await events(t.user.id, 'SIGNED_IN');
      expect(signedIn.some((e) => e.userAgent === PHONE['user-agent'])).toBe(true);
      const entries = await audit(t.user.id, 'user.signed_in');
      expect(entries.map((e) => (e.details as { method?: string }).method)).toContain('passkey');
      // The sign-up's session was from another client: this device is new to the account.
      await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /new sign-in/i.test(m.subject), 10_000);
      const stored = await prisma().passkey.findUniqueOrThrow({ where: { id: passkey.id } });
      expect(stored.counter).toBe(7n);
      expect(stored.lastUsedAt).not.toBeNull();
    });

    it('with an identifier: only that account’s passkeys are offered, and only they are accepted', async () => {
      const alice = await register(fx.server, newIdentity('pka'));
      const bob = await register(fx.server, newIdentity('pkb'));
      const auth = authenticator();
      const a = await addPasskey(fx.server, auth, alice.accessToken);
      const b = await addPasskey(fx.server, auth, bob.accessToken);

      const start = (await startLogin(fx.server, alice.user.username.toUpperCase())).body.data!.startPasskeyLogin;
      expect((start.options.allowCredentials as { id: string }[]).map((c) => c.id)).toEqual([a.credentialId]);
      const ok = await finishLogin(fx.server, start.challengeId, auth.assert(start.options));
      expect(ok.body.data?.finishPasskeyLogin.user.id).toBe(alice.user.id);

      // Bob's passkey answering a challenge made for alice: refused.
      const other = (await startLogin(fx.server, alice.user.email)).body.data!.startPasskeyLogin;
      expect(codeOf((await finishLogin(fx.server, other.challengeId, auth.assert(other.options, { credentialId: b.credentialId }))).body)).toBe('INVALID_CREDENTIALS');
    });

    it('an identifier without passkeys gets a stand-in credential, the same each time, like an unknown one', async () => {
      const t = await register(fx.server, newIdentity('pkn'));
      const offered = async (identifier: string) => (await startLogin(fx.server, identifier)).body.data!.startPasskeyLogin.options.allowCredentials as { id: string }[];
      const [k1, k2, u1] = [await offered(t.user.username), await offered(t.user.username), await offered('nobody_here_at_all')];
      expect(k1).toHaveLength(1);
      expect(k2).toEqual(k1);
      expect(u1).toHaveLength(1);
      expect(u1[0]!.id).not.toBe(k1[0]!.id);
      expect(Object.keys(u1[0]!)).toEqual(Object.keys(k1[0]!));
    });
  });

  describe('delete', () => {
    it('removes the passkey (PASSKEY_REMOVED, audit, email); it no longer signs in; another account’s passkey is not found', async () => {
      const t = await register(fx.server, newIdentity('pkd'));
      const other = await register(fx.server, newIdentity('pko'));
      const auth = authenticator();
      const { passkey } = await addPasskey(fx.server, auth, t.accessToken, { name: 'Old phone' });

      expect((await gql(fx.server, DELETE, { id: passkey.id }, bearer(other.accessToken))).body.data).toEqual({ deletePasskey: false });
      expect((await gql(fx.server, DELETE, { id: passkey.id }, bearer(t.accessToken))).body.data).toEqual({ deletePasskey: true });
      expect((await gql(fx.server, DELETE, { id: passkey.id }, bearer(t.accessToken))).body.data).toEqual({ deletePasskey: false });

      expect(await events(t.user.id, 'PASSKEY_REMOVED')).toHaveLength(1);
      expect(await audit(t.user.id, 'user.passkey_removed')).toHaveLength(1);
      const mail = await passkeyMail(t.user.email, /removed/);
      expect(mail.text).toContain('Old phone');
      expect(codeOf((await passkeySignIn(fx.server, auth)).body)).toBe('INVALID_CREDENTIALS');
    });
  });

  it('erasing the account erases its passkeys (the credential can register again elsewhere)', async () => {
    const id = newIdentity('pke');
    const t = await register(fx.server, id);
    await addPasskey(fx.server, authenticator(), t.accessToken);
    const res = await gql(fx.server, 'mutation D($p: String!) { deleteAccount(password: $p) }', { p: id.password }, bearer(t.accessToken));
    expect(res.body.errors).toBeUndefined();
    expect(await prisma().passkey.count({ where: { userId: t.user.id } })).toBe(0);
  });

  describe('REST', () => {
    it('registers, lists, signs in and deletes under /auth', async () => {
      const t = await register(fx.server, newIdentity('pkrest'));
      const auth = authenticator();
      const h = bearer(t.accessToken);
      expect((await rest(fx.server, 'GET', '/auth/passkeys')).status).toBe(401);

      const opts = await rest(fx.server, 'POST', '/auth/passkeys/registration/options', {}, h);
      expect(opts.status).toBe(200);
      const { challengeId, options } = opts.body as { challengeId: string; options: Record<string, unknown> };
      const created = await rest(fx.server, 'POST', '/v1/auth/passkeys', { challengeId, response: auth.create(options), name: 'Key' }, h);
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'Key', lastUsedAt: null });

      const listed = await rest(fx.server, 'GET', '/auth/passkeys', undefined, h);
      expect(listed.body).toEqual({ passkeys: [created.body] });

      const login = await rest(fx.server, 'POST', '/auth/passkey/login/options', { identifier: t.user.email });
      expect(login.status).toBe(200);
      const c = login.body as { challengeId: string; options: Record<string, unknown> };
      const signedIn = await rest(fx.server, 'POST', '/auth/passkey/login', { challengeId: c.challengeId, response: auth.assert(c.options) });
      expect(signedIn.status).toBe(200);
      expect(signedIn.body).toMatchObject({ tokenType: 'Bearer', user: { id: t.user.id } });
      const replay = await rest(fx.server, 'POST', '/auth/passkey/login', { challengeId: c.challengeId, response: auth.assert(c.options) });
      expect([replay.status, replay.body?.code]).toEqual([400, 'INVALID_TOKEN']);
      expect(replay.headers.get('content-type')).toMatch(/problem\+json/);

      const id = (created.body as { id: string }).id;
      expect((await rest(fx.server, 'DELETE', `/auth/passkeys/${id}`, undefined, h)).status).toBe(204);
      const gone = await rest(fx.server, 'DELETE', `/auth/passkeys/${id}`, undefined, h);
      expect([gone.status, gone.body?.code]).toEqual([404, 'NOT_FOUND']);
    });
  });
});
