import type { Browser, BrowserContext, Page, WebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountWithRole, adminCall } from '../../test/admin-client.js';
import { bearer, codeOf, login, newIdentity, register } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { launchChromium, note, PHONE, SHOTS, signInThroughConsole, startConsoleServer, watchPage, type PageWatch } from './console.browser.helpers.js';

/**
 * The console's session watcher: while signed in, every page holds one `securityEvent` socket, so a session
 * ended elsewhere signs the console out at once on pages without a feed of their own (Security, the admin
 * area), not at its next request. And the catch-up that covers the moment between the socket's
 * acknowledgement and the service registering its subscription.
 */
describe('the console session watcher in Chromium', () => {
  const fx = useTestServers('console-watch');
  let server: TestServer;
  let base: string;
  let browser: Browser;
  const watch: PageWatch = { foreign: [], problems: [] };
  const contexts: BrowserContext[] = [];

  /** The feed sockets a page opened: whether each is closed, when the service acknowledged it, when it subscribed. */
  interface Feed {
    ws: WebSocket;
    closed: boolean;
    acked: Promise<unknown>;
    subscribed: Promise<unknown>;
  }
  /** A browser of its own (cookies, user agent) at phone size, with its page watched and its sockets kept. */
  async function browserAs(agent: string): Promise<{ page: Page; feeds: Feed[] }> {
    const context = await browser.newContext({ viewport: PHONE, userAgent: agent });
    contexts.push(context);
    const page = await context.newPage();
    watchPage(page, base, watch);
    const feeds: Feed[] = [];
    page.on('websocket', (ws) => {
      if (!ws.url().endsWith('/graphql')) return;
      const feed: Feed = {
        ws,
        closed: false,
        acked: ws.waitForEvent('framereceived', { predicate: (f) => String(f.payload).includes('"connection_ack"'), timeout: 15_000 }),
        subscribed: ws.waitForEvent('framesent', { predicate: (f) => String(f.payload).includes('"type":"subscribe"'), timeout: 15_000 }),
      };
      feed.acked.catch(() => undefined);
      feed.subscribed.catch(() => undefined);
      ws.on('close', () => (feed.closed = true));
      feeds.push(feed);
    });
    // A new document (not a route of the console's own): the sockets of the one before are gone, and
    // Playwright reports no close for them.
    page.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) for (const f of feeds) f.closed = true;
    });
    return { page, feeds };
  }
  const open = (feeds: Feed[]) => feeds.filter((f) => !f.closed);

  /** The id of the session whose user agent is `agent`, as another session of the account lists it. */
  async function sessionOf(token: string, agent: string): Promise<string> {
    const res = await gql<{ sessions: { id: string; userAgent: string | null }[] }>(server, 'query { sessions { id userAgent } }', {}, bearer(token));
    const found = res.body.data?.sessions.filter((s) => s.userAgent === agent) ?? [];
    expect(found).toHaveLength(1);
    return found[0]!.id;
  }
  const revoke = async (token: string, id: string) => {
    const r = await gql(server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id }, bearer(token));
    expect(r.body).toEqual({ data: { revokeSession: true } });
  };

  /**
   * Lets the page settle (its content loaded, its socket acknowledged when it has one), ends its session with
   * `end`, and waits for the sign-in page to show with no user action. The latency is printed, not asserted.
   */
  async function signedOutAtOnce(page: Page, feeds: Feed[], what: string, end: () => Promise<void>) {
    await Promise.all(open(feeds).map((f) => f.acked));
    const sent = Date.now();
    await end();
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor({ timeout: 10_000 });
    note(`${what}: the console showed the sign-in page ${Date.now() - sent} ms after the request that ended its session was sent`);
    expect(page.url()).toBe(`${base}/account/sign-in`);
    await page.locator('.notice', { hasText: /signed out/i }).first().waitFor();
    expect(await page.getByRole('link', { name: 'Sign in' }).count()).toBe(1); // the signed-out menu
    expect(await page.getByRole('link', { name: 'Security' }).count()).toBe(0);
    await expect.poll(() => open(feeds).length).toBe(0);
  }

  beforeAll(async () => {
    ({ server, base } = await startConsoleServer(fx));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('on the Security page (no feed of its own), this session revoked elsewhere shows the sign-in page at once', async () => {
    const agent = 'Watch-Security/1.0';
    const id = newIdentity('watchsec');
    const other = await register(server, id);
    const { page, feeds } = await browserAs(agent);
    await signInThroughConsole(page, base, id.username, id.password);
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await page.locator('#passkeys li').first().waitFor(); // the page has loaded what it shows
    const mine = await sessionOf(other.accessToken, agent);
    await signedOutAtOnce(page, feeds, 'revoked on the Security page', () => revoke(other.accessToken, mine));
    await page.screenshot({ path: `${SHOTS}/watch-signed-out-security.png`, fullPage: true });
  });

  it('on the Security page, the account disabled by an administrator shows the sign-in page at once', async () => {
    const agent = 'Watch-Disabled/1.0';
    const admin = await accountWithRole(server, 'ADMIN');
    const id = newIdentity('watchdis');
    const userId = (await register(server, id)).user.id;
    const { page, feeds } = await browserAs(agent);
    await signInThroughConsole(page, base, id.username, id.password);
    await page.getByRole('link', { name: 'Security' }).click();
    await page.locator('#passkeys li').first().waitFor();
    await signedOutAtOnce(page, feeds, 'disabled on the Security page', async () => {
      expect(codeOf((await adminCall(server, 'disableUser', { id: userId, reason: 'watch test' }, admin.accessToken)).body)).toBeUndefined();
    });
  });

  it("an ADMIN on an account's admin page: its session revoked elsewhere shows the sign-in page at once", async () => {
    const agent = 'Watch-Admin/1.0';
    const admin = await accountWithRole(server, 'ADMIN');
    const target = await register(server, newIdentity('watched'));
    const { page, feeds } = await browserAs(agent);
    await signInThroughConsole(page, base, admin.user.username, admin.password);
    await page.goto(`${base}/account/admin/users/${target.user.id}`);
    await page.getByRole('heading', { name: target.user.username, level: 1 }).waitFor();
    await page.locator('#user-sessions li[data-session]').first().waitFor();
    const mine = await sessionOf(admin.accessToken, agent);
    await signedOutAtOnce(page, feeds, 'revoked on an admin page', () => revoke(admin.accessToken, mine));
  });

  it('holds one socket while signed in, the same across pages (the Sessions feed listens to it), and none once signed out', async () => {
    const agent = 'Watch-Sockets/1.0';
    const id = newIdentity('watchsock');
    await register(server, id);
    const { page, feeds } = await browserAs(agent);
    await signInThroughConsole(page, base, id.username, id.password);
    await expect.poll(() => open(feeds).length).toBe(1);
    const first = open(feeds)[0]!;
    await first.acked;
    await page.getByRole('link', { name: 'Security' }).click();
    await page.locator('#passkeys li').first().waitFor();
    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await first.subscribed;
    // The Sessions page shows a sign-in elsewhere live, through that same socket.
    expect(codeOf((await login(server, id.username, id.password, { 'user-agent': 'Watch-Elsewhere/1.0' })).body)).toBeUndefined();
    await page.locator('#events li', { hasText: 'Watch-Elsewhere/1.0' }).waitFor();
    expect(feeds).toEqual([first]);
    expect(first.closed).toBe(false);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/account/sign-in`);
    await expect.poll(() => first.closed).toBe(true);
    expect(feeds).toHaveLength(1); // no socket while signed out
  });

  it('an event committed after the catch-up at connection and published before the service registered the subscription still shows', async () => {
    // The page's socket goes through this test: while `holding`, the subscription it sends reaches the
    // service only when released, so the gap graphql-ws leaves (no "subscribed" answer) is as wide as needed.
    const id = newIdentity('watchgap');
    await register(server, id);
    const context = await browser.newContext({ viewport: PHONE });
    contexts.push(context);
    const page = await context.newPage();
    watchPage(page, base, watch);
    let holding = false;
    const held: (() => void)[] = [];
    let subscribes = 0;
    await context.routeWebSocket(/\/graphql$/, (ws) => {
      const service = ws.connectToServer();
      ws.onMessage((message) => {
        if (typeof message === 'string' && message.includes('"type":"subscribe"')) {
          subscribes += 1;
          if (holding) return void held.push(() => service.send(message));
        }
        service.send(message);
      });
    });
    const catchUps: number[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && (r.postData() ?? '').includes('query Events($after')) catchUps.push(Date.now());
    });
    await signInThroughConsole(page, base, id.username, id.password);
    await expect.poll(() => subscribes).toBe(1);

    // A new document (a new socket) whose subscription is held back; the one before is gone with its timers.
    await page.goto('about:blank');
    holding = true;
    const caughtUp = page.waitForResponse((r) => (r.request().postData() ?? '').includes('query Events($after'), { timeout: 15_000 });
    await page.goto(`${base}/account/sessions`);
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await caughtUp; // the catch-up at connection has read the events
    await expect.poll(() => held.length).toBe(1);
    const gapAgent = 'In-The-Gap/1.0';
    const committed = Date.now();
    expect(codeOf((await login(server, id.username, id.password, { 'user-agent': gapAgent })).body)).toBeUndefined();
    // Pushed to pub/sub before the subscription exists: it cannot come live, only from a later catch-up.
    await expect
      .poll(async () => (await server.infra.prisma.securityEvent.findFirst({ where: { user: { username: id.username }, userAgent: gapAgent } }))?.publishedAt ?? null, { timeout: 10_000 })
      .not.toBeNull();
    holding = false;
    held.splice(0).forEach((send) => send()); // the service registers the subscription now, after the event

    await page.locator('#events li', { hasText: gapAgent }).waitFor({ timeout: 15_000 });
    note(`catch-up gap: the event committed in the gap showed ${Date.now() - committed} ms after its sign-in was sent (${catchUps.length} catch-up queries in all)`);
    expect(await page.locator('#events li', { hasText: gapAgent }).count()).toBe(1);
    // The subscription works from then on.
    expect(codeOf((await login(server, id.username, id.password, { 'user-agent': 'After-The-Gap/1.0' })).body)).toBeUndefined();
    await page.locator('#events li', { hasText: 'After-The-Gap/1.0' }).waitFor();
    expect(page.url()).toBe(`${base}/account/sessions`);
  });

  it('made no request to another host, and logged no error or CSP violation', async () => {
    await Promise.all(contexts.map((c) => c.close()));
    expect(watch.foreign).toEqual([]);
    expect(watch.problems).toEqual([]);
  });
});
