import { describe, expect, it } from 'vitest';
import { codeOf, newIdentity, register, rest } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';
import { addPasskey, finishLogin, finishRegistration, passkeySignIn, startLogin, startRegistration } from '../../test/passkey-client.js';
import { FLAG, SoftAuthenticator } from '../../test/soft-authenticator.js';
import { PASSKEY_CHALLENGE_TTL_SECONDS, PASSKEY_LOGIN_CHALLENGES_PER_SOURCE, PasskeyChallenges } from './passkey-challenges.js';

const ORIGIN = 'https://app.test.local';
const UNKNOWN_DEVICE = { 'user-agent': 'Stranger/1.0' };

describe('PasskeysService: what an attacker tries', () => {
  const fx = useTestServer('passkeys-sec', {
    env: { WEBAUTHN_RP_ID: 'test.local', WEBAUTHN_ORIGINS: `${ORIGIN},https://login.test.local`, LOCKOUT_THRESHOLD: '3', LOCKOUT_WINDOW: '3600', TRUST_PROXY: '127.0.0.1' },
  });
  const prisma = () => fx.server.infra.prisma;
  const failures = (userId: string) => prisma().auditEntry.findMany({ where: { targetUserId: userId, action: 'user.sign_in_failed' }, orderBy: { occurredAt: 'asc' } });

  /** An account with one passkey of a fresh authenticator. */
  async function holder(label: string) {
    const t = await register(fx.server, newIdentity(label));
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { passkey, credentialId } = await addPasskey(fx.server, auth, t.accessToken);
    return { t, auth, passkey, credentialId };
  }

  describe('user verification', () => {
    it('an assertion without UV is refused, and so is a registration without it', async () => {
      const { t, auth } = await holder('uv');
      expect(codeOf((await passkeySignIn(fx.server, auth, { flags: FLAG.UP })).body)).toBe('INVALID_CREDENTIALS');
      expect((await failures(t.user.id)).at(-1)?.details).toMatchObject({ reason: 'invalid_credentials', method: 'passkey' });
      expect((await passkeySignIn(fx.server, auth)).body.errors).toBeUndefined();

      const start = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      const res = await finishRegistration(fx.server, t.accessToken, start.challengeId, auth.create(start.options, { flags: FLAG.UP }));
      expect(codeOf(res.body)).toBe('BAD_USER_INPUT');
      expect(await prisma().passkey.count({ where: { userId: t.user.id } })).toBe(1);
    });
  });

  describe('signature counter', () => {
    it('a counter at or behind the stored one is refused and recorded; the stored counter stays', async () => {
      const { t, auth, passkey } = await holder('ctr');
      expect((await passkeySignIn(fx.server, auth, { counter: 5 })).body.errors).toBeUndefined();
      for (const counter of [3, 5]) {
        expect(codeOf((await passkeySignIn(fx.server, auth, { counter })).body)).toBe('INVALID_CREDENTIALS');
        expect((await failures(t.user.id)).at(-1)?.details).toMatchObject({ method: 'passkey', counter: 'regressed', storedCounter: 5, receivedCounter: counter });
      }
      expect((await prisma().passkey.findUniqueOrThrow({ where: { id: passkey.id } })).counter).toBe(5n);
      expect(fx.server.logs.join('')).toContain('passkey signature counter went backwards');
      expect((await passkeySignIn(fx.server, auth, { counter: 6 })).body.errors).toBeUndefined();
    });

    it('two assertions racing with one counter value (a clone used at the same time): exactly one signs in', async () => {
      const { t, auth } = await holder('race');
      const starts = await Promise.all([startLogin(fx.server), startLogin(fx.server)]);
      const [a, b] = starts.map((r) => r.body.data!.startPasskeyLogin);
      const results = await Promise.all([finishLogin(fx.server, a!.challengeId, auth.assert(a!.options, { counter: 9 })), finishLogin(fx.server, b!.challengeId, auth.assert(b!.options, { counter: 9 }))]);
      expect(results.map((r) => codeOf(r.body) ?? 'ok').sort()).toEqual(['INVALID_CREDENTIALS', 'ok']);
      expect((await failures(t.user.id)).at(-1)?.details).toMatchObject({ counter: 'regressed', receivedCounter: 9 });
    });

    it('an authenticator that keeps no counter (always 0) signs in again and again', async () => {
      const { auth } = await holder('zero');
      for (let i = 0; i < 2; i++) expect((await passkeySignIn(fx.server, auth, { counter: 0 })).body.errors).toBeUndefined();
    });
  });

  describe('challenges', () => {
    it('are single use: a second finish with one challenge is refused, even with a fresh valid assertion', async () => {
      const { auth } = await holder('once');
      const { challengeId, options } = (await startLogin(fx.server)).body.data!.startPasskeyLogin;
      expect((await finishLogin(fx.server, challengeId, auth.assert(options))).body.errors).toBeUndefined();
      expect(codeOf((await finishLogin(fx.server, challengeId, auth.assert(options))).body)).toBe('INVALID_TOKEN');
    });

    it('live five minutes in Redis, then refused; a challenge of one ceremony does not serve another', async () => {
      const { t, auth } = await holder('ttl');
      const { challengeId, options } = (await startLogin(fx.server)).body.data!.startPasskeyLogin;
      const redis = fx.server.infra.redis;
      const key = new PasskeyChallenges(redis, fx.server.config.redis.keyPrefix).keyOf(challengeId);
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(PASSKEY_CHALLENGE_TTL_SECONDS - 10);
      expect(ttl).toBeLessThanOrEqual(300);
      await redis.pexpire(key, 1); // as five minutes passing would
      await new Promise((r) => setTimeout(r, 20));
      expect(codeOf((await finishLogin(fx.server, challengeId, auth.assert(options))).body)).toBe('INVALID_TOKEN');

      // A registration challenge presented to the sign-in (and the other way round).
      const reg = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      expect(codeOf((await finishLogin(fx.server, reg.challengeId, auth.assert({ ...options, challenge: reg.options.challenge }))).body)).toBe('INVALID_TOKEN');
      const login = (await startLogin(fx.server)).body.data!.startPasskeyLogin;
      expect(codeOf((await finishRegistration(fx.server, t.accessToken, login.challengeId, auth.create({ ...reg.options, challenge: login.options.challenge }))).body)).toBe(
        'INVALID_TOKEN',
      );
    });

    it('a registration challenge is bound to the session that asked for it', async () => {
      const { t, auth } = await holder('bound');
      const other = await register(fx.server, newIdentity('thief'));
      const reg = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      expect(codeOf((await finishRegistration(fx.server, other.accessToken, reg.challengeId, auth.create(reg.options))).body)).toBe('INVALID_TOKEN');
      expect(await prisma().passkey.count({ where: { userId: other.user.id } })).toBe(0);
    });

    it('an assertion signed over another challenge is refused', async () => {
      const { auth } = await holder('chal');
      const { challengeId, options } = (await startLogin(fx.server)).body.data!.startPasskeyLogin;
      expect(codeOf((await finishLogin(fx.server, challengeId, auth.assert(options, { challenge: 'AAAAAAAAAAAAAAAAAAAAAA' }))).body)).toBe('INVALID_CREDENTIALS');
    });
  });

  describe('relying party', () => {
    it('an assertion from another origin or for another RP id is refused; every listed origin is accepted', async () => {
      const { auth } = await holder('rp');
      expect(codeOf((await passkeySignIn(fx.server, auth, { origin: 'https://evil.example' })).body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf((await passkeySignIn(fx.server, auth, { rpId: 'evil.example' })).body)).toBe('INVALID_CREDENTIALS');
      expect((await passkeySignIn(fx.server, auth, { origin: 'https://login.test.local' })).body.errors).toBeUndefined();
    });

    it('a registration made on another origin is refused', async () => {
      const t = await register(fx.server, newIdentity('rpreg'));
      const auth = new SoftAuthenticator({ origin: 'https://evil.example' });
      const start = (await startRegistration(fx.server, t.accessToken)).body.data!.startPasskeyRegistration;
      expect(codeOf((await finishRegistration(fx.server, t.accessToken, start.challengeId, auth.create(start.options))).body)).toBe('BAD_USER_INPUT');
    });
  });

  describe('the sign-in seam', () => {
    it('a disabled account is refused after a valid assertion (ACCOUNT_DISABLED, audited), and no session is opened', async () => {
      const { t, auth } = await holder('dis');
      await prisma().user.update({ where: { id: t.user.id }, data: { disabledAt: new Date() } });
      const before = await prisma().session.count({ where: { userId: t.user.id } });
      expect(codeOf((await passkeySignIn(fx.server, auth)).body)).toBe('ACCOUNT_DISABLED');
      expect((await failures(t.user.id)).at(-1)?.details).toMatchObject({ reason: 'disabled', method: 'passkey' });
      expect(await prisma().session.count({ where: { userId: t.user.id } })).toBe(before);
    });

    it('refused assertions count toward the lockout, and a locked account cannot sign in with its passkey', async () => {
      const { t, auth } = await holder('lock');
      for (let i = 0; i < 3; i++) {
        expect(codeOf((await passkeySignIn(fx.server, auth, { flags: FLAG.UP, headers: UNKNOWN_DEVICE })).body)).toBe('INVALID_CREDENTIALS');
      }
      expect(await prisma().securityEvent.count({ where: { userId: t.user.id, type: 'ACCOUNT_LOCKED' } })).toBe(1);
      expect(codeOf((await passkeySignIn(fx.server, auth, { headers: UNKNOWN_DEVICE })).body)).toBe('ACCOUNT_LOCKED');
      expect((await failures(t.user.id)).at(-1)?.details).toMatchObject({ reason: 'locked', method: 'passkey' });
    });

    it('a sign-in from a new device starts the account count again (before its session makes the device known)', async () => {
      const { t, auth } = await holder('recount');
      const stranger2 = { 'user-agent': 'Stranger/2.0' };
      for (let i = 0; i < 2; i++) expect(codeOf((await passkeySignIn(fx.server, auth, { flags: FLAG.UP, headers: UNKNOWN_DEVICE })).body)).toBe('INVALID_CREDENTIALS');
      expect((await passkeySignIn(fx.server, auth, { headers: UNKNOWN_DEVICE })).body.errors).toBeUndefined();
      // Two more refusals from yet another device: two in a row, under the threshold (3).
      for (let i = 0; i < 2; i++) expect(codeOf((await passkeySignIn(fx.server, auth, { flags: FLAG.UP, headers: stranger2 })).body)).toBe('INVALID_CREDENTIALS');
      expect((await passkeySignIn(fx.server, auth, { headers: stranger2 })).body.errors).toBeUndefined();
      expect(await prisma().securityEvent.count({ where: { userId: t.user.id, type: 'ACCOUNT_LOCKED' } })).toBe(0);
    });

    it('an unknown credential is refused like a bad signature and audited without an account', async () => {
      const auth = new SoftAuthenticator({ origin: ORIGIN });
      auth.create({ rp: { id: 'test.local' }, user: { id: 'AAAAAAAAAAAAAAAAAAAAAA' }, challenge: 'x' });
      const before = await prisma().auditEntry.count({ where: { action: 'user.sign_in_failed', targetUserId: null } });
      expect(codeOf((await passkeySignIn(fx.server, auth)).body)).toBe('INVALID_CREDENTIALS');
      expect(await prisma().auditEntry.count({ where: { action: 'user.sign_in_failed', targetUserId: null } })).toBe(before + 1);
    });

    it('a discoverable assertion whose user handle names another account is refused', async () => {
      const { auth } = await holder('handle');
      auth.credentials[0]!.userHandle = Buffer.alloc(16, 7).toString('base64url');
      expect(codeOf((await passkeySignIn(fx.server, auth)).body)).toBe('INVALID_CREDENTIALS');
    });
  });

  describe('limits', () => {
    const from = (ip: string) => ({ 'x-forwarded-for': ip, ...UNKNOWN_DEVICE });

    it('challenges have their own budget per source (RATE_LIMIT_PASSKEY_CHALLENGE); assertions keep theirs (RATE_LIMIT_PASSKEY_LOGIN); each first refusal is audited', async () => {
      const limited = await fx.start({
        namespace: 'rl',
        env: { WEBAUTHN_RP_ID: 'test.local', WEBAUTHN_ORIGINS: ORIGIN, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_PASSKEY_CHALLENGE: '3/900', RATE_LIMIT_PASSKEY_LOGIN: '2/900' },
      });
      const t = await register(limited, newIdentity('rl'));
      const auth = new SoftAuthenticator({ origin: ORIGIN });
      await addPasskey(limited, auth, t.accessToken);
      const audited = () => prisma().auditEntry.count({ where: { action: 'user.sign_in_failed', details: { path: ['reason'], equals: 'rate_limited' } } });
      const before = await audited();
      const a = from('198.51.100.1');

      // Three challenges from one source over both doors; the fourth is refused, over both doors.
      const first = await startLogin(limited, undefined, a);
      expect(first.body.errors).toBeUndefined();
      expect((await startLogin(limited, undefined, a)).body.errors).toBeUndefined();
      expect((await rest(limited, 'POST', '/auth/passkey/login/options', {}, a)).status).toBe(200);
      expect(codeOf((await startLogin(limited, undefined, a)).body)).toBe('RATE_LIMITED');
      expect((await rest(limited, 'POST', '/auth/passkey/login/options', {}, a)).status).toBe(429);

      // Asking for challenges spent none of the assertions' budget: the source still signs in with one it holds.
      const { challengeId, options } = first.body.data!.startPasskeyLogin;
      expect((await finishLogin(limited, challengeId, auth.assert(options), a)).body.errors).toBeUndefined();
      // ... and assertions stay limited per source: the second is tried (a used challenge), the third refused.
      expect(codeOf((await finishLogin(limited, challengeId, auth.assert(options), a)).body)).toBe('INVALID_TOKEN');
      expect(codeOf((await finishLogin(limited, 'x', { id: 'x' }, a)).body)).toBe('RATE_LIMITED');
      const refused = await rest(limited, 'POST', '/auth/passkey/login', { challengeId: 'x', response: {} }, a);
      expect([refused.status, refused.body?.code]).toEqual([429, 'RATE_LIMITED']);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await audited()).toBe(before + 2); // once per limit and window, however often refused

      // Another source has both budgets whole.
      const b = from('198.51.100.2');
      expect((await passkeySignIn(limited, auth, { headers: b })).body.errors).toBeUndefined();
    });

    it('assertions stay limited per account whatever the source: refusals from many addresses lock it', async () => {
      const { t, auth } = await holder('spread');
      for (let i = 0; i < 3; i++) {
        expect(codeOf((await passkeySignIn(fx.server, auth, { flags: FLAG.UP, headers: from(`203.0.113.${i + 1}`) })).body)).toBe('INVALID_CREDENTIALS');
      }
      expect(codeOf((await passkeySignIn(fx.server, auth, { headers: from('203.0.113.9') })).body)).toBe('ACCOUNT_LOCKED');
      expect(await prisma().securityEvent.count({ where: { userId: t.user.id, type: 'ACCOUNT_LOCKED' } })).toBe(1);
    });

    it(`a source holds at most ${PASSKEY_LOGIN_CHALLENGES_PER_SOURCE} sign-in challenges: past that its oldest is dropped; other sources keep theirs`, async () => {
      const { auth } = await holder('cap');
      const c = from('192.0.2.10');
      const other = (await startLogin(fx.server, undefined, from('192.0.2.11'))).body.data!.startPasskeyLogin;
      const held: { challengeId: string; options: Record<string, unknown> }[] = [];
      for (let i = 0; i <= PASSKEY_LOGIN_CHALLENGES_PER_SOURCE; i++) held.push((await startLogin(fx.server, undefined, c)).body.data!.startPasskeyLogin);
      const challenges = new PasskeyChallenges(fx.server.infra.redis, fx.server.config.redis.keyPrefix);
      expect(await fx.server.infra.redis.zcard(challenges.sourceKeyOf('192.0.2.10'))).toBe(PASSKEY_LOGIN_CHALLENGES_PER_SOURCE);
      expect(await fx.server.infra.redis.exists(challenges.keyOf(held[0]!.challengeId))).toBe(0);
      expect(codeOf((await finishLogin(fx.server, held[0]!.challengeId, auth.assert(held[0]!.options), c)).body)).toBe('INVALID_TOKEN');
      expect((await finishLogin(fx.server, held[1]!.challengeId, auth.assert(held[1]!.options), c)).body.errors).toBeUndefined();
      expect((await finishLogin(fx.server, other.challengeId, auth.assert(other.options), from('192.0.2.11'))).body.errors).toBeUndefined();
    });
  });
});
