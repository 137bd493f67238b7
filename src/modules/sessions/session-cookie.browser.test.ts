import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, me, newIdentity } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { hashOpaqueToken } from './refresh-token.js';

const NAME = '__Host-latchkey_refresh';

/**
 * A first-party app's page, served by the test on the service's own origin (under /auth): it signs in,
 * refreshes and signs out in cookie mode the way a browser app would, holding only the access token.
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>cookie mode</title><script>
const MODE = { 'x-latchkey-session': 'cookie' };
async function call(path, body, headers = MODE) {
  const res = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
window.signIn = (identifier, password) => call('/auth/login', { identifier, password });
window.refresh = (headers) => call('/auth/refresh', null, headers);
window.signOut = () => call('/auth/logout', null);
</script>`;

const testPage: FastifyPluginAsync = async (app) => {
  app.get('/test-app', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'")
      .send(PAGE),
  );
};

type CallResult = { status: number; body: Record<string, unknown> | null };
/** What the page's script puts on `window` (the test's tsconfig has no DOM types: reached through globalThis). */
type TestApp = {
  signIn(identifier: string, password: string): Promise<CallResult>;
  refresh(headers?: Record<string, string>): Promise<CallResult>;
  signOut(): Promise<CallResult>;
};

describe('cookie-mode sessions in Chromium', () => {
  const fx = useTestServers('session-cookie-browser');
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    // An https PUBLIC_URL: the production cookie (Secure, __Host-); Chromium accepts it from 127.0.0.1.
    // CORS_ORIGINS names only the (other) app: no page served from 127.0.0.1 passes a preflight.
    server = await fx.start({ env: { PUBLIC_URL: 'https://auth.example.test', CORS_ORIGINS: 'https://app.example.test' }, restRoutes: [testPage] });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`${server.url}/auth/test-app`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** `METHOD status` of each call to /auth/refresh, from the server's request log. */
  /** What reached /auth/refresh, by the access log's one line per request (a preflight is logged with its path). */
  const refreshCalls = () =>
    server.logs
      .map((l) => JSON.parse(l) as { msg?: string; method?: string; route?: string; path?: string; status?: number })
      .filter((l) => l.msg === 'request completed' && (l.route === '/auth/refresh' || l.path === '/auth/refresh'))
      .map((l) => `${l.method} ${l.status}`);
  const refreshCookie = async () => (await context.cookies(server.url)).find((c) => c.name === NAME);

  it('signs in, refreshes and signs out by an HttpOnly cookie that the page cannot read and the browser sends', async () => {
    const id = newIdentity('browser');
    const reg = await fetch(`${server.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(id) });
    expect(reg.status).toBe(201);

    const signedIn = await page.evaluate(([u, p]) => (globalThis as unknown as TestApp).signIn(u!, p!), [id.username, id.password]);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).not.toHaveProperty('refreshToken');

    // What the browser stored, as Playwright and as the DevTools protocol see it.
    const stored = await refreshCookie();
    expect(stored).toMatchObject({ name: NAME, httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    const cdp = await context.newCDPSession(page);
    const { cookies } = (await cdp.send('Network.getCookies', { urls: [server.url] })) as { cookies: { name: string; httpOnly: boolean; secure: boolean; sameSite?: string }[] };
    expect(cookies.find((c) => c.name === NAME)).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    // No script of the page can read it.
    expect(await page.evaluate<string>('document.cookie')).not.toContain('latchkey_refresh');

    // The browser sends it: a refresh with no token in the body succeeds and rotates it.
    const refreshed = await page.evaluate(() => (globalThis as unknown as TestApp).refresh());
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.body).not.toHaveProperty('refreshToken');
    expect(codeOf((await me(server, refreshed.body!.accessToken as string)).body)).toBeUndefined();
    const rotated = await refreshCookie();
    expect(rotated?.value).toBeDefined();
    expect(rotated!.value).not.toBe(stored!.value);

    // The same call without the header (what a forged request would be) is refused, though the cookie went along.
    const forged = await page.evaluate(() => (globalThis as unknown as TestApp).refresh({}));
    expect(forged).toMatchObject({ status: 403, body: { code: 'CSRF_CHECK_FAILED' } });
    expect((await refreshCookie())!.value).toBe(rotated!.value);

    // Sign-out by the cookie alone: the session ends and the browser drops the cookie.
    const out = await page.evaluate(() => (globalThis as unknown as TestApp).signOut());
    expect(out.status).toBe(204);
    expect(await refreshCookie()).toBeUndefined();
    expect(codeOf((await me(server, refreshed.body!.accessToken as string)).body)).toBe('UNAUTHENTICATED');
  });

  it('a sibling app of the same site (the cookie goes along) cannot use it: with the header CORS stops it, without it the service refuses', async () => {
    const id = newIdentity('browser');
    await fetch(`${server.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(id) });
    await page.goto(`${server.url}/auth/test-app`);
    await page.evaluate(([u, p]) => (globalThis as unknown as TestApp).signIn(u!, p!), [id.username, id.password]);
    const before = await refreshCookie();
    expect(before).toBeDefined();

    // Another port of 127.0.0.1: another origin, but the same site, so SameSite=Strict lets the cookie go.
    const sibling = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>sibling</title>'));
    await new Promise<void>((done) => sibling.listen(0, '127.0.0.1', done));
    try {
      const other = await context.newPage();
      await other.goto(`http://127.0.0.1:${(sibling.address() as AddressInfo).port}/`);
      const outcome = await other.evaluate(async (url) => {
        const attempt = (headers: Record<string, string>) =>
          fetch(url, { method: 'POST', credentials: 'include', headers }).then((r) => `status ${r.status}`, (e: Error) => `blocked: ${e.name}`);
        return { withHeader: await attempt({ 'x-latchkey-session': 'cookie' }), withoutHeader: await attempt({}) };
      }, `${server.url}/auth/refresh`);
      // The header needs a preflight, which CORS_ORIGINS refuses: the request is never sent.
      expect(outcome.withHeader).toMatch(/^blocked/);
      // A simple request goes out with the cookie; the service refuses it (its answer unreadable to the page).
      expect(outcome.withoutHeader).toMatch(/^blocked/);
      await other.close();
    } finally {
      sibling.close();
    }
    // Nothing was rotated: the cookie is the one the sign-in set, and its token is unused.
    expect((await refreshCookie())!.value).toBe(before!.value);
    const row = await server.infra.prisma.refreshToken.findUniqueOrThrow({ where: { tokenHash: hashOpaqueToken(before!.value) } });
    expect(row.usedAt).toBeNull();
    // What reached the service from the sibling: the refused preflight, and the header-less POST refused.
    expect(refreshCalls().slice(-2)).toEqual(['OPTIONS 403', 'POST 403']);
  });

  it('an app on another origin of the same site, listed in CORS_ORIGINS, signs in and refreshes by cookie with credentials: include', async () => {
    const app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>'));
    await new Promise<void>((done) => app.listen(0, '127.0.0.1', done));
    const appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    const api = await fx.start({ env: { PUBLIC_URL: 'https://auth.example.test', CORS_ORIGINS: appOrigin } });
    const own = await browser.newContext();
    try {
      const id = newIdentity('browser');
      await fetch(`${api.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(id) });
      const tab = await own.newPage();
      await tab.goto(`${appOrigin}/`);
      const outcome = await tab.evaluate(
        async ([base, identifier, password]) => {
          const call = async (path: string, body?: unknown) => {
            const res = await fetch(`${base}${path}`, {
              method: 'POST',
              credentials: 'include',
              headers: { 'x-latchkey-session': 'cookie', ...(body ? { 'content-type': 'application/json' } : {}) },
              body: body ? JSON.stringify(body) : undefined,
            });
            return { status: res.status, body: (await res.json()) as Record<string, unknown> };
          };
          return { signedIn: await call('/auth/login', { identifier, password }), refreshed: await call('/auth/refresh') };
        },
        [api.url, id.username, id.password],
      );
      expect(outcome.signedIn.status).toBe(200);
      expect(outcome.signedIn.body).not.toHaveProperty('refreshToken');
      expect(outcome.refreshed.status, JSON.stringify(outcome.refreshed.body)).toBe(200);
      expect(codeOf((await me(api, outcome.refreshed.body.accessToken as string)).body)).toBeUndefined();
      expect((await own.cookies(api.url)).find((c) => c.name === NAME)).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    } finally {
      await own.close();
      app.close();
    }
  });
});
