import { parseSetCookie } from 'cookie';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, codeOf, me, newIdentity, PAYLOAD } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { sessionCookiePolicy } from './session-cookie.guard.js';

const COOKIE_MODE = { 'x-latchkey-session': 'cookie' };
const NAME = '__Host-latchkey_refresh';

/** A raw HTTP call: JSON body (when given), the answer's JSON and each Set-Cookie parsed. */
async function call(server: TestServer, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined, cookies: res.headers.getSetCookie().map((c) => parseSetCookie(c)), raw: res.headers.getSetCookie() };
}

const sidOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string;

describe('sessionCookiePolicy', () => {
  const secure = (publicUrl: string, isProduction = false) => sessionCookiePolicy({ isProduction, publicUrl, refreshTokenTtl: 60 }).secure;

  it('drops Secure (and so the __Host- prefix) only in development over plain http on this machine', () => {
    for (const url of ['http://localhost:4000', 'http://127.0.0.1:4000', 'http://[::1]:4000', 'http://app.localhost']) expect(secure(url), url).toBe(false);
    for (const url of ['https://localhost:4000', 'https://auth.example.com', 'http://auth.example.com', 'http://192.168.1.10:4000', 'http://localhost.example.com'])
      expect(secure(url), url).toBe(true);
    expect(secure('http://localhost:4000', true)).toBe(true);
  });
});

describe('cookie-mode sessions over raw HTTP', () => {
  const fx = useTestServers('session-cookie');
  let server: TestServer; // PUBLIC_URL is https: the production attributes
  let dev: TestServer; // PUBLIC_URL http://localhost: development over plain http

  beforeAll(async () => {
    server = await fx.start({ env: { PUBLIC_URL: 'https://auth.example.test' } });
    dev = await fx.start();
  });

  /** Signs up in cookie mode; returns the access token and the cookie's value. */
  async function signUp(target = server) {
    const res = await call(target, '/auth/register', { body: newIdentity('cookie'), headers: COOKIE_MODE });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { accessToken: res.body!.accessToken as string, cookie: res.cookies[0]!.value!, res };
  }
  const cookieHeader = (value: string) => ({ cookie: `${NAME}=${value}` });
  const sessionRow = (accessToken: string) => server.infra.prisma.session.findUniqueOrThrow({ where: { id: sidOf(accessToken) } });

  it('register: the refresh token is set as a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/, no Domain) and left out of the JSON', async () => {
    const { res } = await signUp();
    expect(res.body).not.toHaveProperty('refreshToken');
    expect(res.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 900, user: { username: expect.any(String) } });
    expect(res.cookies).toHaveLength(1);
    expect(res.cookies[0]).toEqual({ name: NAME, value: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), path: '/', httpOnly: true, secure: true, sameSite: 'strict', maxAge: 2_592_000 });
    expect(res.raw[0]).not.toMatch(/domain=/i);
  });

  it('login over REST and GraphQL in cookie mode: the cookie, and no token in the body (GraphQL answers an empty string)', async () => {
    const id = newIdentity('cookie');
    await call(server, '/auth/register', { body: id });
    const rest = await call(server, '/auth/login', { body: { identifier: id.username, password: id.password }, headers: COOKIE_MODE });
    expect(rest.status).toBe(200);
    expect(rest.body).not.toHaveProperty('refreshToken');
    expect(rest.cookies[0]).toMatchObject({ name: NAME, httpOnly: true, secure: true, sameSite: 'strict' });

    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...COOKIE_MODE },
      body: JSON.stringify({ query: `mutation { login(input: { identifier: "${id.username}", password: "${id.password}" }) { ... on AuthPayload { ${PAYLOAD} } } }` }),
    });
    const body = (await res.json()) as { data: { login: { refreshToken: string; accessToken: string } } };
    expect(body.data.login.refreshToken).toBe('');
    const set = res.headers.getSetCookie().map((c) => parseSetCookie(c));
    expect(set).toEqual([expect.objectContaining({ name: NAME, httpOnly: true, secure: true, sameSite: 'strict', value: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })]);
  });

  it('refresh by cookie (REST and GraphQL) rotates it: a new cookie, no token in the body, and the old cookie is then reuse', async () => {
    const { cookie } = await signUp();
    const first = await call(server, '/auth/refresh', { headers: { ...COOKIE_MODE, ...cookieHeader(cookie) } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).not.toHaveProperty('refreshToken');
    const next = first.cookies[0]!.value!;
    expect(next).not.toBe(cookie);

    const viaGraphql = await gql<{ refresh: { refreshToken: string; accessToken: string } }>(server, `mutation { refresh { ${PAYLOAD} } }`, undefined, { ...COOKIE_MODE, ...cookieHeader(next) });
    expect(viaGraphql.body.errors).toBeUndefined();
    expect(viaGraphql.body.data!.refresh.refreshToken).toBe('');
    expect(codeOf((await me(server, viaGraphql.body.data!.refresh.accessToken)).body)).toBeUndefined();

    const replay = await call(server, '/auth/refresh', { headers: { ...COOKIE_MODE, ...cookieHeader(cookie) } });
    expect(replay).toMatchObject({ status: 401, body: { code: 'REFRESH_TOKEN_REUSED' } });
  });

  it('CSRF: the cookie without X-Latchkey-Session is refused (CSRF_CHECK_FAILED) by refresh and logout, REST and GraphQL, and consumes nothing', async () => {
    const { accessToken, cookie } = await signUp();
    const refresh = await call(server, '/auth/refresh', { headers: cookieHeader(cookie) });
    expect(refresh).toMatchObject({ status: 403, body: { code: 'CSRF_CHECK_FAILED' } });
    const refreshEmptyBody = await call(server, '/auth/refresh', { body: {}, headers: cookieHeader(cookie) });
    expect(refreshEmptyBody).toMatchObject({ status: 403, body: { code: 'CSRF_CHECK_FAILED' } });
    const logout = await call(server, '/auth/logout', { headers: cookieHeader(cookie) });
    expect(logout).toMatchObject({ status: 403, body: { code: 'CSRF_CHECK_FAILED' } });
    const gqlRefresh = await gql(server, 'mutation { refresh { accessToken } }', undefined, cookieHeader(cookie));
    expect(codeOf(gqlRefresh.body)).toBe('CSRF_CHECK_FAILED');
    const gqlLogout = await gql(server, 'mutation { logout }', undefined, cookieHeader(cookie));
    expect(codeOf(gqlLogout.body)).toBe('CSRF_CHECK_FAILED');
    // A form post (what a cross-site page can send without CORS) is not even read.
    const form = await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...cookieHeader(cookie) }, body: 'x=1' });
    expect(form.status).toBe(415);

    // Nothing was spent or ended: the session and its cookie still work.
    expect((await sessionRow(accessToken)).revokedAt).toBeNull();
    expect((await call(server, '/auth/refresh', { headers: { ...COOKIE_MODE, ...cookieHeader(cookie) } })).status).toBe(200);
  });

  it('logout by cookie (no access token needed) ends the session and clears the cookie; GraphQL logout does the same', async () => {
    const a = await signUp();
    const out = await call(server, '/auth/logout', { headers: { ...COOKIE_MODE, ...cookieHeader(a.cookie) } });
    expect(out.status).toBe(204);
    expect(out.cookies).toEqual([expect.objectContaining({ name: NAME, value: '', maxAge: 0, path: '/', secure: true, httpOnly: true })]);
    expect((await sessionRow(a.accessToken)).revokedAt).not.toBeNull();
    expect(codeOf((await me(server, a.accessToken)).body)).toBe('UNAUTHENTICATED');
    expect(await server.infra.prisma.securityEvent.count({ where: { sessionId: sidOf(a.accessToken), type: 'SIGNED_OUT' } })).toBe(1);

    const b = await signUp();
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...COOKIE_MODE, ...cookieHeader(b.cookie) },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });
    expect(((await res.json()) as { data: { logout: boolean } }).data.logout).toBe(true);
    expect(res.headers.getSetCookie().map((c) => parseSetCookie(c))).toEqual([expect.objectContaining({ name: NAME, value: '', maxAge: 0 })]);
    expect((await sessionRow(b.accessToken)).revokedAt).not.toBeNull();
    // Logging out again with the dead cookie ends nothing and still clears it.
    const again = await call(server, '/auth/logout', { headers: { ...COOKIE_MODE, ...cookieHeader(b.cookie) } });
    expect(again.status).toBe(204);
  });

  it('the cookie is never a bearer credential: not for me, not as an Authorization value', async () => {
    const { cookie } = await signUp();
    const cookieOnly = await gql(server, '{ me { id } }', undefined, { ...COOKIE_MODE, ...cookieHeader(cookie) });
    expect(codeOf(cookieOnly.body)).toBe('UNAUTHENTICATED');
    expect(codeOf((await me(server, cookie)).body)).toBe('UNAUTHENTICATED');
    const logout = await call(server, '/auth/logout', { headers: bearer(cookie) });
    expect(logout).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
  });

  it('bearer clients are unaffected: no header, the token in the JSON and no cookie; refresh and logout as before', async () => {
    const id = newIdentity('bearer');
    const reg = await call(server, '/auth/register', { body: id });
    expect(reg.status).toBe(201);
    expect(reg.body!.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(reg.cookies).toEqual([]);
    const next = await call(server, '/auth/refresh', { body: { refreshToken: reg.body!.refreshToken } });
    expect(next.status).toBe(200);
    expect(next.body!.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(next.cookies).toEqual([]);
    expect(await call(server, '/auth/refresh', {})).toMatchObject({ status: 400, body: { code: 'BAD_USER_INPUT' } });
    const out = await call(server, '/auth/logout', { headers: bearer(next.body!.accessToken as string) });
    expect(out.status).toBe(204);
    expect(out.cookies).toEqual([]);
  });

  it('cookie mode without a cookie is UNAUTHENTICATED; an unknown header value is BAD_USER_INPUT before any session opens', async () => {
    expect(await call(server, '/auth/refresh', { headers: COOKIE_MODE })).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    const id = newIdentity('cookie');
    const res = await call(server, '/auth/register', { body: id, headers: { 'x-latchkey-session': 'both' } });
    expect(res).toMatchObject({ status: 400, body: { code: 'BAD_USER_INPUT' } });
    expect(await server.infra.prisma.user.count({ where: { username: id.username } })).toBe(0);
  });

  it('development over plain http on localhost: the same cookie without Secure or prefix (some browsers refuse Secure over http)', async () => {
    const { res } = await signUp(dev);
    expect(res.cookies[0]).toEqual({ name: 'latchkey_refresh', value: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), path: '/', httpOnly: true, sameSite: 'strict', maxAge: 2_592_000 });
    const cookie = res.cookies[0]!.value!;
    const next = await call(dev, '/auth/refresh', { headers: { ...COOKIE_MODE, cookie: `latchkey_refresh=${cookie}` } });
    expect(next.status).toBe(200);
  });
});
