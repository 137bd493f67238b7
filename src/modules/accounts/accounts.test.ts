import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf, login, me, newIdentity, REGISTER, register, rest, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

describe('AccountsService through its doors', () => {
  const fx = useTestServer('accounts');

  describe('register', () => {
    it('creates the account, signs in, and normalises the email domain only', async () => {
      const id = newIdentity('reg');
      const tokens = await register(fx.server, id);
      expect(tokens.tokenType).toBe('Bearer');
      expect(tokens.expiresIn).toBe(900);
      const [local, domain] = id.email.split('@');
      expect(tokens.user).toMatchObject({ username: id.username, email: `${local}@${domain!.toLowerCase()}`, emailVerified: false, mfaEnabled: false });
      expect((await me(fx.server, tokens.accessToken)).body.data?.me.id).toBe(tokens.user.id);
    });

    it('refuses an email or username taken in any case', async () => {
      const id = newIdentity('dup');
      await register(fx.server, id);
      const sameEmail = await gql(fx.server, REGISTER, { input: { ...newIdentity('other'), email: id.email.toUpperCase() } });
      expect(codeOf(sameEmail.body)).toBe('EMAIL_TAKEN');
      const sameName = await gql(fx.server, REGISTER, { input: { ...newIdentity('other'), username: id.username.toUpperCase() } });
      expect(codeOf(sameName.body)).toBe('USERNAME_TAKEN');
    });

    it('reports every invalid field under BAD_USER_INPUT', async () => {
      const res = await gql(fx.server, REGISTER, { input: { username: 'a b', email: 'not-an-email', password: 'long enough password' } });
      expect(codeOf(res.body)).toBe('BAD_USER_INPUT');
      expect(Object.keys(res.body.errors?.[0]?.extensions?.fields as object).sort()).toEqual(['email', 'username']);
    });

    it.each([
      ['too short', 'short7!'],
      ['too long', 'x'.repeat(129)],
      ['common', 'password123'],
    ])('refuses a %s password with WEAK_PASSWORD and writes nothing', async (_label, password) => {
      const id = { ...newIdentity('weak'), password };
      const res = await gql(fx.server, REGISTER, { input: id });
      expect(codeOf(res.body)).toBe('WEAK_PASSWORD');
      expect(res.body.errors?.[0]?.extensions?.fields).toHaveProperty('password');
      expect(await fx.server.infra.prisma.user.count({ where: { username: id.username } })).toBe(0);
    });

    it('accepts 8 and 128 characters, spaces included, with no composition rules', async () => {
      await register(fx.server, { ...newIdentity('len8'), password: 'zq vx kj' });
      // 128 characters, no repetition or run (a filler like 'yyy…z' is now refused as a pattern).
      await register(fx.server, { ...newIdentity('len128'), password: 'seven purple otters argued about jazz on a rainy tuesday while the lighthouse keeper counted four gulls and drank cold mint tea at dusk'.slice(0, 128) });
    });

    it('race: ten concurrent registrations of one email make one user and nine EMAIL_TAKEN', async () => {
      const email = newIdentity('race').email;
      const results = await Promise.all(
        Array.from({ length: 10 }, () => gql(fx.server, REGISTER, { input: { ...newIdentity('race'), email } })),
      );
      const codes = results.map((r) => codeOf(r.body) ?? 'OK').sort();
      expect(codes).toEqual(['EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'OK']);
      expect(await fx.server.infra.prisma.user.count({ where: { email } })).toBe(1);
      // Nothing half-written: the losers left no session behind.
      const user = await fx.server.infra.prisma.user.findFirstOrThrow({ where: { email }, select: { id: true } });
      expect(await fx.server.infra.prisma.session.count({ where: { userId: user.id } })).toBe(1);
    });
  });

  describe('login', () => {
    let id: ReturnType<typeof newIdentity>;
    beforeAll(async () => {
      id = newIdentity('login');
      await register(fx.server, id);
    });

    it('accepts the username or the email, without regard to case', async () => {
      for (const identifier of [id.username, id.username.toUpperCase(), id.email, id.email.toLowerCase(), `  ${id.email}  `]) {
        const res = await login(fx.server, identifier, id.password);
        expect(res.body.errors, identifier).toBeUndefined();
        expect(res.body.data?.login.__typename).toBe('AuthPayload');
        expect(res.body.data?.login.user.username).toBe(id.username);
      }
    });

    it('answers an unknown identifier and a wrong password with the same code and message', async () => {
      const wrong = await login(fx.server, id.username, `${id.password}x`);
      const unknown = await login(fx.server, 'nobody_here_at_all', id.password);
      expect(codeOf(wrong.body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf(unknown.body)).toBe('INVALID_CREDENTIALS');
      expect(wrong.body.errors?.[0]?.message).toBe(unknown.body.errors?.[0]?.message);
    });

    it('refuses an empty identifier as BAD_USER_INPUT, never a 500', async () => {
      const res = await login(fx.server, '   ', 'x');
      expect(res.status).toBe(200);
      expect(codeOf(res.body)).toBe('BAD_USER_INPUT');
    });
  });

  describe('changePassword', () => {
    it('needs the current password, ends every other session, keeps this one, and the new password works', async () => {
      const id = newIdentity('chg');
      const a = await register(fx.server, id);
      const b = (await login(fx.server, id.username, id.password)).body.data!.login;
      const change = (current: string, next: string, token: string) =>
        gql(fx.server, 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }', { i: { currentPassword: current, newPassword: next } }, { authorization: `Bearer ${token}` });

      expect(codeOf((await change('wrong-password-here', 'a brand new passphrase', a.accessToken)).body)).toBe('INVALID_CREDENTIALS');
      const weak = await change(id.password, 'password1', a.accessToken);
      expect(codeOf(weak.body)).toBe('WEAK_PASSWORD');
      expect(weak.body.errors?.[0]?.extensions?.fields).toHaveProperty('newPassword');

      expect((await change(id.password, 'a brand new passphrase', a.accessToken)).body.data).toEqual({ changePassword: true });
      expect(codeOf((await me(fx.server, b.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect((await me(fx.server, a.accessToken)).body.data?.me.id).toBe(a.user.id);
      expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('INVALID_CREDENTIALS');
      expect(codeOf((await login(fx.server, id.username, 'a brand new passphrase')).body)).toBeUndefined();
      const events = await fx.server.infra.prisma.securityEvent.findMany({ where: { userId: a.user.id }, select: { type: true } });
      expect(events.map((e) => e.type)).toContain('PASSWORD_CHANGED');
    });
  });

  describe('REST shim', () => {
    it('POST /auth/register answers 201 with the AuthPayload', async () => {
      const id = newIdentity('rest');
      const res = await rest(fx.server, 'POST', '/auth/register', id);
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect((res.body as unknown as Tokens).user.username).toBe(id.username);
      expect(res.body).toHaveProperty('accessToken');
      expect(res.body).toHaveProperty('refreshToken');
    });

    it('POST /auth/login and /v1/auth/login accept username, email or identifier', async () => {
      const id = newIdentity('restlogin');
      await rest(fx.server, 'POST', '/v1/auth/register', id);
      for (const body of [{ username: id.username }, { email: id.email }, { identifier: id.username }]) {
        for (const base of ['/auth', '/v1/auth']) {
          const res = await rest(fx.server, 'POST', `${base}/login`, { ...body, password: id.password });
          expect(res.status, JSON.stringify(body)).toBe(200);
          expect(res.body).toMatchObject({ tokenType: 'Bearer', user: { username: id.username } });
        }
      }
    });

    it('answers errors as problem+json with the GraphQL codes', async () => {
      const bad = await rest(fx.server, 'POST', '/auth/register', { username: 'x', email: 'y', password: 'z' });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(bad.body).toMatchObject({ code: 'BAD_USER_INPUT', status: 400 });
      expect(Object.keys(bad.body?.fields as object).sort()).toEqual(['email', 'username']);

      const unknownField = await rest(fx.server, 'POST', '/auth/register', { ...newIdentity('x'), admin: true });
      expect(unknownField.body).toMatchObject({ code: 'BAD_USER_INPUT' });

      const creds = await rest(fx.server, 'POST', '/auth/login', { username: 'nobody_x', password: 'whatever-pass' });
      expect(creds.status).toBe(401);
      expect(creds.body).toMatchObject({ code: 'INVALID_CREDENTIALS' });

      const id = newIdentity('taken');
      await rest(fx.server, 'POST', '/auth/register', id);
      const taken = await rest(fx.server, 'POST', '/auth/register', { ...newIdentity('t2'), email: id.email });
      expect(taken.status).toBe(409);
      expect(taken.body).toMatchObject({ code: 'EMAIL_TAKEN' });
    });

    it.each([[null], [[]], ['string'], [42], [{ username: 1, email: {}, password: [] }]])('never answers 500 to a body of %j', async (body) => {
      const res = await rest(fx.server, 'POST', '/auth/register', body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'BAD_USER_INPUT' });
    });
  });
});
