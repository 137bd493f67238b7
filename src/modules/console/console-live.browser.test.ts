import type { Browser, BrowserContext, Page, Request, Route, WebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newIdentity, register } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { launchChromium, PHONE, SHOTS, startConsoleServer } from './console.browser.helpers.js';

/**
 * The console's own machinery in Chromium: passkey autofill, the access token's renewal timer and the feed
 * across a 4401, keyboard use. Access tokens live 30 s here (the least ACCESS_TOKEN_TTL allows), so the
 * renewal (at 80%) and the expiry happen within a test.
 */
const TOKEN_TTL_SECONDS = 30;


/** A GraphQL request of the page naming this operation. */
const isOperation = (r: Request, name: string) => r.url().endsWith('/graphql') && r.method() === 'POST' && (r.postData() ?? '').includes(`"query":"mutation ${name}`);

describe('the account console in Chromium: autofill, token renewal, keyboard', () => {
  const fx = useTestServers('console-live');
  let server: TestServer;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  /** Every feed socket the page opened, in order, and whether each has closed. */
  const sockets: { ws: WebSocket; closed: boolean; gone?: boolean; subscribed: Promise<unknown> }[] = [];
  const id = newIdentity('live');

  const signInWithPassword = async () => {
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Username or email').fill(id.username);
    await page.getByLabel('Password').fill(id.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
  };
  /**
   * The page's one open feed socket (other than `not`: one that has just closed), once its subscription is
   * sent, and a moment for the server to register it.
   */
  const feedListening = async (not?: (typeof sockets)[number]) => {
    const open = () => sockets.filter((s) => !s.closed && !s.gone && s !== not);
    await expect.poll(() => open().length, { timeout: 15_000 }).toBe(1);
    const feed = open()[0]!;
    await feed.subscribed;
    await new Promise((r) => setTimeout(r, 300));
    return feed;
  };
  const signInElsewhere = async (agent: string) => {
    const res = await login(server, id.username, id.password, { 'user-agent': agent });
    expect(res.body.errors).toBeUndefined();
  };
  const eventRow = (agent: string | RegExp) => page.locator('#events li', { hasText: agent });

  beforeAll(async () => {
    ({ server, base } = await startConsoleServer(fx, { ACCESS_TOKEN_TTL: String(TOKEN_TTL_SECONDS) }));
    await register(server, id);
    await server.infra.prisma.user.update({ where: { username: id.username }, data: { emailVerifiedAt: new Date() } });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: PHONE });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('websocket', (ws) => {
      if (!ws.url().endsWith('/graphql')) return;
      const entry = {
        ws,
        closed: false,
        subscribed: ws.waitForEvent('framesent', { predicate: (f) => String(f.payload).includes('"type":"subscribe"'), timeout: 15_000 }),
      };
      entry.subscribed.catch(() => undefined);
      ws.on('close', () => (entry.closed = true));
      sockets.push(entry);
    });
    // A new document: the sockets of the one before are gone (Playwright reports no close for them).
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) for (const s of sockets) s.gone = true;
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('sign-in page: Tab goes through the form, the links, the passkey button and the email-link form in order, each with a visible focus ring', async () => {
    await page.goto(`${base}/account/sign-in`);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    const expected = [
      'INPUT identifier',
      'INPUT password',
      'BUTTON Sign in',
      'A Forgot your password?',
      'A Create an account',
      'BUTTON Sign in with a passkey',
      'INPUT email',
      'BUTTON Email me a link',
    ];
    expect(await tabThrough(page, expected.length)).toEqual(expected.map((e) => `${e} | ring`));
    // Backwards from the heading: the header's links come before the page.
    await page.getByRole('heading', { name: 'Sign in', exact: true }).focus();
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('A Create account | ring');
  });

  it('sessions page: Tab reaches each other session’s sign-out button, then “sign out every other session”; Enter on the form signs in', async () => {
    await signInElsewhere('Elsewhere-Tab/1.0');
    // Signing in by keyboard alone: type, Tab, type, Enter.
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Username or email').focus();
    await page.keyboard.type(id.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(id.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await page.locator('#sessions li', { hasText: 'Elsewhere-Tab/1.0' }).waitFor();
    expect(await focused(page)).toMatch(/^H1 Your sessions/); // the new page's heading has the focus
    // The other sessions (this test's, and the one `register` opened), each its button, then the one for all.
    const others = (await page.locator('#sessions li').count()) - (await page.locator('#sessions li .badge').count());
    expect(others).toBe(2);
    const buttons = await tabThrough(page, others + 1);
    expect(buttons.slice(0, others)).toEqual(Array.from({ length: others }, () => expect.stringMatching(/^BUTTON Sign out .+ at .+ \| ring$/)));
    expect(buttons).toContainEqual(expect.stringMatching(/^BUTTON Sign out Elsewhere-Tab\/1\.0 at /));
    expect(buttons.at(-1)).toBe('BUTTON Sign out every other session | ring');
    for (let i = 0; i <= others; i++) await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('BUTTON Sign out | ring'); // the header's, before the page
    await page.screenshot({ path: `${SHOTS}/sessions-focus.png` });
  });

  it('passkey autofill: the identifier field asks for a challenge on its first focus only, and a resident passkey signs in through it', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    try {
      await page.getByRole('link', { name: 'Security' }).click();
      await page.getByLabel(/^Name/).fill('Autofill laptop');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.locator('#passkeys li', { hasText: 'Autofill laptop' }).waitFor();
      expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.filter((c) => c.isResidentCredential)).toHaveLength(1);

      const starts: Request[] = [];
      const onRequest = (r: Request) => void (isOperation(r, 'StartPasskeyLogin') && starts.push(r));
      page.on('request', onRequest);
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/account/sign-in`);
      const field = page.getByLabel('Username or email');
      expect(await field.getAttribute('autocomplete')).toBe('username webauthn');
      expect(starts).toHaveLength(0); // a page view alone asks for nothing
      expect(await page.evaluate<boolean>('PublicKeyCredential.isConditionalMediationAvailable()')).toBe(true);

      // Focusing the field starts the conditional request; Chromium with a virtual authenticator holding a
      // resident passkey answers it with that passkey (there is no picker to show headless).
      await field.focus();
      await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
      page.off('request', onRequest);
      expect(starts).toHaveLength(1);
      expect(JSON.parse(starts[0]!.postData()!).variables).toEqual({ identifier: null }); // discoverable: no name sent
      const row = await server.infra.prisma.passkey.findFirstOrThrow({ where: { user: { username: id.username } } });
      expect(row.lastUsedAt).not.toBeNull();
      const signedIn = await server.infra.prisma.auditEntry.findFirst({ where: { targetUserId: row.userId, action: 'user.signed_in' }, orderBy: { occurredAt: 'desc' } });
      expect(signedIn?.details).toMatchObject({ method: 'passkey' });
    } finally {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
      await cdp.detach();
    }
  });

  // Chromium itself cancels a waiting conditional request when a modal one starts; the console aborts it
  // first anyway (not every browser does), and the field offers passkeys again on its next focus.
  it('the passkey button works while autofill waits, and the field offers autofill again on its next focus', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    // No resident passkey now: autofill waits, and the button's ceremony must replace it.
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    try {
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/account/sign-in`);
      const started = page.waitForRequest((r) => isOperation(r, 'StartPasskeyLogin'));
      await page.getByLabel('Username or email').focus();
      await started;
      const second = page.waitForRequest((r) => isOperation(r, 'StartPasskeyLogin'));
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await second;
      // The authenticator holds no passkey of this site: the ceremony ends as "not allowed", not as a clash.
      await page.getByRole('alert').filter({ hasText: 'No passkey was used.' }).waitFor();
      const again = page.waitForRequest((r) => isOperation(r, 'StartPasskeyLogin'));
      await page.getByLabel('Username or email').focus();
      await again;
    } finally {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
      await cdp.detach();
    }
    await signInWithPassword();
  });

  it('renews the access token before it expires: a refresh happens, the same feed socket stays open and keeps delivering events past the first token’s expiry', async () => {
    await page.reload(); // a fresh token and a fresh socket, at a known moment
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    const tokenFrom = Date.now();
    const feed = await feedListening();
    const count = sockets.length;

    await page.waitForRequest((r) => isOperation(r, 'Refresh'), { timeout: TOKEN_TTL_SECONDS * 1000 });
    await signInElsewhere('During-Renewal/1.0');
    await eventRow('During-Renewal/1.0').waitFor();
    // Past the first token's life (with a margin for the server's timer): the socket would have been closed then.
    await new Promise((r) => setTimeout(r, Math.max(0, tokenFrom + TOKEN_TTL_SECONDS * 1000 + 2_000 - Date.now())));
    await signInElsewhere('After-First-Expiry/1.0');
    await eventRow('After-First-Expiry/1.0').waitFor();
    expect(feed.closed).toBe(false);
    expect(sockets.length).toBe(count); // no reconnection: the renewed token reached the socket
  }, 90_000);

  it('a 4401 at token expiry (renewal held back) makes the console refresh and subscribe again, not sign out; events committed meanwhile show', async () => {
    const feed = await feedListening();
    let held: Route | undefined;
    const heldNow = new Promise<void>((resolve) => {
      void page.route(`${base}/graphql`, async (route) => {
        if (!held && isOperation(route.request(), 'Refresh')) {
          held = route; // answered once the socket has been closed by the service
          return resolve();
        }
        return route.fallback();
      });
    });
    await heldNow;
    await expect.poll(() => feed.closed, { timeout: TOKEN_TTL_SECONDS * 1000 }).toBe(true);
    // While no socket listens: events the console must still show, more than one page of them (20).
    const away = 21;
    for (let i = 0; i < away; i++) await signInElsewhere(`While-Away/${i}`);
    await held!.continue();
    await page.unroute(`${base}/graphql`);

    await feedListening(feed);
    await eventRow(/While-Away\/0 /).waitFor(); // the oldest, on the second page
    expect(await eventRow(/While-Away\/\d+ /).count()).toBe(away);
    expect(page.url()).toBe(`${base}/account/sessions`);
    await page.locator('#sessions li', { hasText: `While-Away/${away - 1}` }).waitFor(); // the list caught up too
    await signInElsewhere('After-Reconnect/1.0');
    await eventRow('After-Reconnect/1.0').waitFor();
    expect(page.url()).toBe(`${base}/account/sessions`);
    // Newest first: what came live after the reconnection sits above what was caught up.
    const order = await page.locator('#events li').allTextContents();
    expect(order.findIndex((t) => t.includes('After-Reconnect'))).toBeLessThan(order.findIndex((t) => t.includes(`While-Away/${away - 1}`)));
  }, 90_000);

  it('logged no error', () => {
    expect(problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
  });
});

/**
 * "TAG name-or-label | ring" of the focused element: ring when its focus outline is visible (at least 2px, not
 * none). Evaluated in the page (a string: this project compiles without the DOM's types).
 */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'BODY';
  const name = el.getAttribute('aria-label') ?? (el.tagName === 'INPUT' ? el.name : el.textContent.trim());
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 ? 'ring' : 'no ring';
  return el.tagName + ' ' + name + ' | ' + ring;
})()`;
const focused = (page: Page) => page.evaluate<string>(FOCUSED);

async function tabThrough(page: Page, n: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    seen.push(await focused(page));
  }
  return seen;
}
