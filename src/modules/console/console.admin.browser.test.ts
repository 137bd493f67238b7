import type { Browser, Locator, Page, WebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountWithRole, adminCall } from '../../test/admin-client.js';
import { bearer, codeOf, login, me, newIdentity, register, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { stepNow, totpAt } from '../../test/totp.js';
import { ADMIN_OPERATIONS } from '../admin/admin.service.js';
import { AUDIT_ACTIONS } from '../audit/audit-actions.js';
import { launchChromium, note, phonePage, SHOTS, signInThroughConsole, startConsoleServer, type PageWatch } from './console.browser.helpers.js';

const STRANGER = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' };

/** The console's admin area in Chromium: an ADMIN, a SUPPORT and a USER account, each in a browser of its own. */
describe('the console admin area in Chromium', () => {
  const fx = useTestServers('console-admin');
  let server: TestServer;
  let base: string;
  let browser: Browser;
  const watch: PageWatch = { foreign: [], problems: [] };
  let adminPage: Page; // the administrator's browser
  let targetPage: Page; // the browser of the account the administrator acts on
  let admin: Tokens & { password: string };
  const target = newIdentity('target');
  let targetId: string;
  const prisma = () => server.infra.prisma;
  /** The whole page, or (a long list) the screen's worth at its top. */
  const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage });

  /** An account with TOTP on (its address verified directly: set-up). */
  async function withMfa() {
    const id = newIdentity('mfa');
    const t = await register(server, id);
    await prisma().user.update({ where: { id: t.user.id }, data: { emailVerifiedAt: new Date() } });
    const { secret } = (await gql<{ startTotpEnrollment: { secret: string } }>(server, 'mutation { startTotpEnrollment { secret } }', undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment;
    const confirmed = await gql(server, 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }', { code: totpAt(secret, stepNow()) }, bearer(t.accessToken));
    expect(confirmed.body.errors, JSON.stringify(confirmed.body.errors)).toBeUndefined();
    return { id, userId: t.user.id };
  }

  /** The admin opens an account's page from the user search. */
  async function openAccount(page: Page, username: string) {
    const before = await page.locator('h1').elementHandle();
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await before?.waitForElementState('hidden'); // the page it was on is gone (even if it was this one)
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await page.getByLabel('Find an account').fill(username);
    await page.locator('#users-count', { hasText: /^1 account$/ }).waitFor();
    await page.locator('#users li', { hasText: username }).getByRole('link', { name: username }).click();
    await page.getByRole('heading', { name: username, level: 1 }).waitFor();
  }

  const dialog = (page: Page) => page.getByRole('dialog');

  /**
   * Makes something happen elsewhere until `entry` shows on the live page; the time from the last try to
   * the screen. The socket says it is connected a moment before the service has the subscription in
   * place, so the first event may come too early to be delivered: each try makes a new one.
   */
  async function untilLive(entry: Locator, happen: () => Promise<void>): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const sent = Date.now();
      await happen();
      if (await entry.first().waitFor({ timeout: 3_000 }).then(() => true, () => false)) return Date.now() - sent;
    }
    throw new Error('the live entry never showed');
  }
  const profile = (page: Page, term: string) => page.locator('#profile dt', { hasText: term }).locator('xpath=following-sibling::dd[1]');

  beforeAll(async () => {
    ({ server, base } = await startConsoleServer(fx, { LOCKOUT_THRESHOLD: '3' }));
    browser = await launchChromium();
    admin = await accountWithRole(server, 'ADMIN');
    targetId = (await register(server, target)).user.id;
    adminPage = (await phonePage(browser, base, watch)).page;
    targetPage = (await phonePage(browser, base, watch)).page;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('an ADMIN sees the admin nav and finds accounts (search, paged); the console knows the service\'s role matrix and audit actions', async () => {
    await signInThroughConsole(adminPage, base, admin.user.username, admin.password);
    await adminPage.getByRole('link', { name: 'Admin' }).click();
    await adminPage.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    expect(adminPage.url()).toBe(`${base}/account/admin`);
    const all = await prisma().user.count();
    await adminPage.locator('#users-count', { hasText: `${all} accounts` }).waitFor();
    await shot(adminPage, 'admin-users');

    // The page's tables are the service's (a change to either shows here).
    const known = await adminPage.evaluate<unknown>("import('/account/admin.js').then((m) => ({ roles: m.ROLE_NEEDED, actions: m.AUDIT_ACTIONS }))");
    expect(known).toEqual({ roles: ADMIN_OPERATIONS, actions: [...AUDIT_ACTIONS] });

    // Paged: more accounts than a page, "Load more" brings the rest.
    for (let i = 0; i < 20; i++) await register(server, newIdentity(`many${i}`));
    await adminPage.reload();
    await adminPage.locator('#users-count', { hasText: `${all + 20} accounts, 20 shown` }).waitFor();
    await adminPage.getByRole('button', { name: 'Load more' }).click();
    await adminPage.locator('#users-count', { hasText: `${all + 20} accounts` }).filter({ hasNotText: 'shown' }).waitFor();
    expect(await adminPage.locator('#users li[data-user]').count()).toBe(all + 20);
    await expect.poll(() => adminPage.getByRole('button', { name: 'Load more' }).isHidden()).toBe(true);

    // The search narrows as one types (a prefix of the username or the email), and keeps the filters in the address.
    await adminPage.getByLabel('Find an account').fill(target.username.slice(0, 10));
    await adminPage.locator('#users-count', { hasText: /^1 account$/ }).waitFor();
    expect(new URL(adminPage.url()).searchParams.get('q')).toBe(target.username.slice(0, 10));
    await adminPage.getByLabel('Role').selectOption('ADMIN');
    await adminPage.locator('#users-count', { hasText: /^0 accounts$/ }).waitFor();
    await adminPage.getByLabel('Role').selectOption('');
  });

  it('disables an account after a confirmation, and that account\'s open console signs itself out at once', async () => {
    let targetToken: string | undefined;
    targetPage.on('request', (r) => {
      const auth = r.headers()['authorization'];
      if (auth?.startsWith('Bearer ')) targetToken = auth.slice(7);
    });
    await signInThroughConsole(targetPage, base, target.username, target.password);
    expect(await targetPage.getByRole('link', { name: 'Admin' }).count()).toBe(0); // a USER gets no admin nav
    expect(codeOf((await me(server, targetToken!)).body)).toBeUndefined();

    await openAccount(adminPage, target.username);
    await profile(adminPage, 'Standing').filter({ hasText: 'Active' }).waitFor();
    await adminPage.locator('#user-sessions li[data-session]').first().waitFor();
    await shot(adminPage, 'admin-user');

    // Escape cancels: nothing changes, and focus is back on the button that opened the dialog.
    const disable = adminPage.getByRole('button', { name: 'Disable account…' });
    await disable.click();
    await dialog(adminPage).waitFor();
    expect(await adminPage.evaluate<string | null>("document.activeElement?.getAttribute('name')")).toBe('reason'); // focus went into the dialog
    await adminPage.keyboard.press('Escape');
    await dialog(adminPage).waitFor({ state: 'detached' });
    expect(await adminPage.evaluate<string | null>('document.activeElement?.textContent')).toBe('Disable account…');
    expect((await prisma().user.findUniqueOrThrow({ where: { id: targetId } })).disabledAt).toBeNull();

    await disable.click();
    await dialog(adminPage).getByLabel(/Reason/).fill('browser test');
    await shot(adminPage, 'admin-disable-confirm');
    const clicked = Date.now();
    await dialog(adminPage).getByRole('button', { name: 'Disable', exact: true }).click();
    const [signedOut, confirmed] = await Promise.all([
      targetPage.getByRole('heading', { name: 'Sign in', exact: true }).waitFor({ timeout: 10_000 }).then(() => Date.now() - clicked),
      adminPage.locator('#admin-status .notice.ok', { hasText: 'disabled' }).waitFor().then(() => Date.now() - clicked),
    ]);
    expect(targetPage.url()).toBe(`${base}/account/sign-in`);
    note(`disable-to-signed-out: the other console showed the sign-in page ${signedOut} ms after the Disable click (the admin's page confirmed after ${confirmed} ms)`);
    await shot(targetPage, 'admin-disabled-user-signed-out');

    // The console forgot its session: its nav is the signed-out one, its token is refused, its cookie renews nothing.
    expect(await targetPage.getByRole('link', { name: 'Sign in' }).count()).toBe(1);
    expect(codeOf((await me(server, targetToken!)).body)).toBe('UNAUTHENTICATED');
    const renewed = await targetPage.evaluate(async () => {
      const res = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', 'x-latchkey-session': 'cookie' }, body: JSON.stringify({ query: 'mutation { refresh { accessToken } }' }) });
      return (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    });
    expect(renewed.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(codeOf((await login(server, target.username, target.password)).body)).toBe('ACCOUNT_DISABLED');

    // The admin's page says so, with focus on the message, and shows the new standing.
    await adminPage.locator('#admin-status .notice.ok', { hasText: 'disabled' }).waitFor();
    expect(await adminPage.evaluate<boolean>("document.activeElement?.classList.contains('notice')")).toBe(true);
    await profile(adminPage, 'Standing').filter({ hasText: 'browser test' }).waitFor();
    expect(await adminPage.locator('#user-sessions li[data-session]').count()).toBe(0);
    expect(await prisma().user.findUniqueOrThrow({ where: { id: targetId } })).toMatchObject({ disabledReason: 'browser test', disabledAt: expect.any(Date) });
  });

  it('enables it again (after confirming who the operator is, when asked); sets its role', async () => {
    // No admin operation asks for a recent sign-in today (REAUTHENTICATION_REQUIRED): that answer is made
    // up for the first enableUser, to show the dialog asks for the password, proves it, and goes on.
    let asked = 0;
    await adminPage.route(`${base}/graphql`, async (r) => {
      if (!/mutation AdminEnable/.test(r.request().postData() ?? '') || asked++ > 0) return r.fallback();
      await r.fulfill({ contentType: 'application/json', body: JSON.stringify({ errors: [{ message: 'Confirm it is you', extensions: { code: 'REAUTHENTICATION_REQUIRED' } }], data: null }) });
    });
    await adminPage.getByRole('button', { name: 'Enable account' }).click();
    await dialog(adminPage).getByRole('button', { name: 'Enable', exact: true }).click();
    await dialog(adminPage).getByLabel('Your password').fill(admin.password);
    await shot(adminPage, 'admin-reauthenticate');
    await dialog(adminPage).getByRole('button', { name: 'Confirm', exact: true }).click();
    await adminPage.locator('#admin-status .notice.ok', { hasText: 'enabled' }).waitFor();
    await adminPage.unroute(`${base}/graphql`);
    expect(asked).toBe(2);
    expect(await prisma().auditEntry.count({ where: { action: 'user.reauthenticated', actorId: admin.user.id, outcome: 'SUCCESS' } })).toBe(1);
    await profile(adminPage, 'Standing').filter({ hasText: /^Active$/ }).waitFor();
    expect(codeOf((await login(server, target.username, target.password)).body)).toBeUndefined();

    await adminPage.getByLabel('Role of this account').selectOption('SUPPORT');
    await adminPage.getByRole('button', { name: 'Change role…' }).click();
    await dialog(adminPage).getByRole('heading', { name: `Make ${target.username} SUPPORT?` }).waitFor();
    await dialog(adminPage).getByRole('button', { name: 'Make SUPPORT' }).click();
    await adminPage.locator('#admin-status .notice.ok', { hasText: 'SUPPORT' }).waitFor();
    await profile(adminPage, 'Role').filter({ hasText: 'SUPPORT' }).waitFor();
    expect((await prisma().user.findUniqueOrThrow({ where: { id: targetId } })).role).toBe('SUPPORT');
  });

  const locked = newIdentity('locked');
  it('unlocks an account locked by failed sign-ins', async () => {
    await register(server, locked);
    for (let i = 0; i < 3; i++) await login(server, locked.username, 'not the password at all', STRANGER);
    expect(codeOf((await login(server, locked.username, locked.password, STRANGER)).body)).toBe('ACCOUNT_LOCKED');
    await openAccount(adminPage, locked.username);
    await profile(adminPage, 'Sign-in lock').filter({ hasText: 'Locked' }).waitFor();
    await adminPage.getByRole('button', { name: 'Unlock sign-in' }).click();
    await dialog(adminPage).getByRole('button', { name: 'Unlock', exact: true }).click();
    await adminPage.locator('#admin-status .notice.ok', { hasText: 'unlocked' }).waitFor();
    await profile(adminPage, 'Sign-in lock').filter({ hasText: 'Not locked' }).waitFor();
    expect(codeOf((await login(server, locked.username, locked.password, STRANGER)).body)).toBeUndefined();
  });

  let mfa: Awaited<ReturnType<typeof withMfa>>;
  it('resets the second factor of an account with TOTP', async () => {
    mfa = await withMfa();
    expect((await login(server, mfa.id.username, mfa.id.password)).body.data?.login.__typename).toBe('MfaChallenge');
    await openAccount(adminPage, mfa.id.username);
    await profile(adminPage, 'Two-factor').filter({ hasText: 'On' }).waitFor();
    await adminPage.getByRole('button', { name: 'Reset two-factor…' }).click();
    await dialog(adminPage).getByRole('button', { name: 'Reset two-factor' }).click();
    await adminPage.locator('#admin-status .notice.ok', { hasText: 'Two-factor' }).waitFor();
    await profile(adminPage, 'Two-factor').filter({ hasText: 'Off' }).waitFor();
    expect(await adminPage.getByRole('button', { name: 'Reset two-factor…' }).count()).toBe(0);
    expect((await login(server, mfa.id.username, mfa.id.password)).body.data?.login.__typename).toBe('AuthPayload');
  });

  it('deletes an account only once its username is typed in the confirmation', async () => {
    await adminPage.getByRole('button', { name: 'Delete account…' }).click();
    await dialog(adminPage).getByLabel(/^Type .* to confirm/).fill('someone else');
    await dialog(adminPage).getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog(adminPage).getByRole('alert').waitFor();
    expect(await prisma().user.count({ where: { id: mfa.userId } })).toBe(1);
    await dialog(adminPage).getByLabel(/^Type .* to confirm/).fill(mfa.id.username);
    await shot(adminPage, 'admin-delete-confirm');
    await dialog(adminPage).getByRole('button', { name: 'Delete', exact: true }).click();
    await adminPage.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await adminPage.locator('.notice.ok', { hasText: 'deleted' }).waitFor();
    expect(await prisma().user.count({ where: { id: mfa.userId } })).toBe(0);
    expect(codeOf((await login(server, mfa.id.username, mfa.id.password)).body)).toBe('INVALID_CREDENTIALS');
  });

  it("on the operator's own account only unlocking is offered (its standing and role are another administrator's to change)", async () => {
    await openAccount(adminPage, admin.user.username);
    expect(await adminPage.locator('#actions button').allTextContents()).toEqual(['Unlock sign-in']);
    expect(await adminPage.getByLabel('Role of this account').count()).toBe(0);
    expect(await adminPage.getByRole('button', { name: /Sign out every session/ }).count()).toBe(0);
  });

  it('a SUPPORT account sees only what SUPPORT may do', async () => {
    await signInThroughConsole(targetPage, base, target.username, target.password); // SUPPORT since the role change
    await targetPage.getByRole('link', { name: 'Admin' }).click();
    await openAccount(targetPage, locked.username);
    const actions = targetPage.locator('#actions button');
    expect(await actions.allTextContents()).toEqual(['Unlock sign-in']);
    expect(await targetPage.getByRole('button', { name: 'Sign out every session…' }).count()).toBe(1);
    expect(await targetPage.getByLabel('Role of this account').count()).toBe(0);
    await shot(targetPage, 'admin-user-as-support');
    // What SUPPORT may do, it can: sign every session of the account out.
    const live = await targetPage.locator('#user-sessions li[data-session]').count();
    expect(live).toBeGreaterThan(0);
    await targetPage.getByRole('button', { name: 'Sign out every session…' }).click();
    await dialog(targetPage).getByRole('button', { name: 'Sign them all out' }).click();
    await targetPage.locator('#admin-status .notice.ok', { hasText: `${live} session` }).waitFor();
    await targetPage.locator('#user-sessions li', { hasText: 'No live session' }).waitFor();
    expect(await prisma().session.count({ where: { user: { username: locked.username }, revokedAt: null } })).toBe(0);
    // An ADMIN's account is above SUPPORT: nothing to press.
    await openAccount(targetPage, admin.user.username);
    expect(await targetPage.locator('#actions button').count()).toBe(0);
    expect(await targetPage.getByRole('button', { name: /Sign out every session/ }).count()).toBe(0);
    // SUPPORT reads the audit log too.
    await targetPage.getByRole('link', { name: 'Audit log', exact: true }).click();
    await targetPage.getByRole('heading', { name: 'Audit log' }).waitFor();
    await targetPage.locator('#audit li[data-audit]').first().waitFor();
  });

  it('a USER gets no admin nav, and the admin URLs show "not allowed" (the service answers FORBIDDEN)', async () => {
    const user = newIdentity('plain');
    await register(server, user);
    const { context, page } = await phonePage(browser, base, watch);
    try {
      await signInThroughConsole(page, base, user.username, user.password);
      expect(await page.locator('#nav').textContent()).toBe(`${user.username}SessionsSecuritySign out`); // no admin entry
      for (const path of ['/account/admin', `/account/admin/users/${targetId}`, '/account/admin/audit']) {
        const answer = page.waitForResponse((r) => r.url() === `${base}/graphql` && /query Admin/.test(r.request().postData() ?? ''));
        await page.goto(`${base}${path}`);
        await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
        expect(((await (await answer).json()) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code, path).toBe('FORBIDDEN');
      }
      await shot(page, 'admin-forbidden');
    } finally {
      await context.close();
    }
  });

  it('the audit log: newest first, more on request, filters; an entry made elsewhere appears live; leaving the page ends the feed', async () => {
    // The audit feed's sockets (the session watcher's, open on every page since sign-in, is not one of them).
    const sockets: WebSocket[] = [];
    adminPage.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        if (String(f.payload).includes('OnAuditEvent') && !sockets.includes(ws)) sockets.push(ws);
      }),
    );
    await adminPage.getByRole('link', { name: 'Admin' }).click();
    await adminPage.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await adminPage.getByRole('link', { name: 'Audit log', exact: true }).click();
    await adminPage.getByRole('heading', { name: 'Audit log' }).waitFor();
    const entries = adminPage.locator('#audit li[data-audit]');
    await entries.first().waitFor();
    const times = await Promise.all((await adminPage.locator('#audit li time').all()).map((t) => t.getAttribute('datetime')));
    expect(times).toEqual([...times].sort().reverse());
    const read = adminPage.locator('#audit li[data-audit]:not(.fresh)'); // as read, not arrived live
    expect(await read.count()).toBe(20);
    const stored = await prisma().auditEntry.count();
    expect(stored).toBeGreaterThan(20);
    await adminPage.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => read.count()).toBe(Math.min(40, stored));

    // Live: another account signs in; its entry goes on top without a reload. The socket may be a moment
    // behind the "live" mark, so the sign-in is made again until one shows (each makes its own entry).
    await adminPage.locator('#audit-live[data-state="live"]').waitFor();
    const other = newIdentity('elsewhere');
    const otherId = (await register(server, other)).user.id;
    const latency = await untilLive(adminPage.locator('#audit li.fresh', { hasText: 'user.signed_in' }).filter({ hasText: `account ${otherId.slice(0, 8)}` }), async () => {
      expect(codeOf((await login(server, other.username, other.password, STRANGER)).body)).toBeUndefined();
    });
    note(`audit event-to-screen: a sign-in elsewhere was on the admin's screen ${latency} ms after the login request was sent (login included)`);
    expect(await adminPage.locator('#audit li').first().getAttribute('class')).toBe('fresh'); // on top
    await adminPage.locator('#audit-new', { hasText: 'new entr' }).waitFor();
    await adminPage.evaluate('scrollTo(0, 0)');
    await shot(adminPage, 'admin-audit', false);

    // Filters: the account concerned (from its page), then one action. Live entries join only when they match.
    await openAccount(adminPage, target.username);
    await adminPage.getByRole('link', { name: 'This account in the audit log' }).click();
    await adminPage.getByRole('heading', { name: 'Audit log' }).waitFor();
    expect(new URL(adminPage.url()).searchParams.get('target')).toBe(targetId);
    await adminPage.locator('#audit-live[data-state="live"]').waitFor();
    for (const text of await entries.allTextContents()) expect(text).toContain(`account ${targetId.slice(0, 8)}`);
    await login(server, other.username, other.password, STRANGER); // not about this account
    let role: 'USER' | 'SUPPORT' = 'SUPPORT';
    await untilLive(adminPage.locator('#audit li.fresh', { hasText: 'admin.role_changed' }), async () => {
      role = role === 'USER' ? 'SUPPORT' : 'USER';
      expect(codeOf((await adminCall(server, 'setUserRole', { id: targetId, role }, admin.accessToken)).body)).toBeUndefined();
    });
    expect(await adminPage.locator('#audit li.fresh', { hasText: 'user.signed_in' }).count()).toBe(0);

    await adminPage.getByLabel('Action').selectOption('admin.user_disabled');
    await adminPage.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => entries.allTextContents()).toEqual([expect.stringContaining('admin.user_disabled')]);
    expect(await entries.first().textContent()).toContain('browser test');
    await adminPage.locator('#audit-live[data-state="live"]').waitFor();
    await shot(adminPage, 'admin-audit-filtered');

    // Leaving the page closes its feed (the session watcher's socket stays).
    const open = sockets.filter((ws) => !ws.isClosed());
    expect(open).toHaveLength(1);
    const closed = open[0]!.waitForEvent('close');
    await adminPage.getByRole('link', { name: 'Users', exact: true }).click();
    await adminPage.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await closed;
  });

  it('the audit page says what is wrong with a filter the service refuses, and stays usable', async () => {
    await adminPage.goto(`${base}/account/admin/audit?since=2030-01-01T00:00:00.000Z&until=2020-01-01T00:00:00.000Z`);
    await adminPage.getByRole('heading', { name: 'Audit log' }).waitFor();
    await adminPage.getByRole('alert').waitFor();
    expect(await adminPage.locator('#audit li[data-audit]').count()).toBe(0);
    await adminPage.getByRole('link', { name: 'Clear the filters' }).click();
    await adminPage.locator('#audit li[data-audit]').first().waitFor();
  });

  it('made no request to another host, and logged no error or CSP violation', () => {
    expect(watch.foreign).toEqual([]);
    expect(watch.problems).toEqual([]);
  });
});
