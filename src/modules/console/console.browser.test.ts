import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, login, me, newIdentity } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { PRODUCTION_MAIL_ENV, sentTo } from '../../test/mail-server.js';
import { stepNow, totpAt } from '../../test/totp.js';
import { launchChromium, note, phonePage, SHOTS, startConsoleServer } from './console.browser.helpers.js';

const STRANGER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('the account console in Chromium', () => {
  const fx = useTestServers('console-browser', { mail: true });
  let server: TestServer;
  let base: string; // PUBLIC_URL, where the browser goes
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const foreign: string[] = [];
  const problems: string[] = [];

  const seen = new Set<string>();
  /** The next email of that subject to that address not taken before. */
  const mailTo = async (email: string, subject: RegExp) => {
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, email) && subject.test(m.subject) && !seen.has(m.id), 15_000);
    seen.add(mail.id);
    return mail;
  };
  const linkIn = (text: string | undefined, path: string) => {
    const found = /https?:\/\/\S+?\?token=[A-Za-z0-9_%-]+/g.exec(text ?? '');
    expect(found?.[0], `a link in: ${text?.slice(0, 300)}`).toContain(path);
    return found![0];
  };
  const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  /** One part of the page (a section of the security page), by the id of its heading. */
  const sectionShot = (name: string, headingId: string) => page.locator(`section[aria-labelledby="${headingId}"]`).screenshot({ path: `${SHOTS}/${name}.png` });

  beforeAll(async () => {
    ({ server, base } = await startConsoleServer(fx));
    browser = await launchChromium();
    ({ context, page } = await phonePage(browser, base, { foreign, problems }));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('serves the console at /account and its routes under a strict CSP; files it does not have are 404', async () => {
    for (const path of ['/account', '/account/', '/account/sessions', '/account/reset-password?token=x']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    }
    expect((await fetch(`${server.url}/account/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    // Gzipped for a client that takes it (fetch does, and unpacks it), as is for one that does not.
    const packed = await fetch(`${server.url}/account/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(packed.headers.get('content-encoding')).toBe('gzip');
    const plain = await fetch(`${server.url}/account/app.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await packed.text()).toBe(await plain.text());
    expect((await fetch(`${server.url}/account/vendor/graphql-ws/client.js`)).status).toBe(200);
    expect((await fetch(`${server.url}/account/nothing.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/account/../package.json`)).status).not.toBe(200);
  });

  it('ACCOUNT_CONSOLE=off serves nothing at /account', async () => {
    const off = await fx.start({ env: { ACCOUNT_CONSOLE: 'off' }, workers: false });
    expect((await fetch(`${off.url}/account`)).status).toBe(404);
    expect((await fetch(`${off.url}/account/sessions`)).status).toBe(404);
  });

  const id = newIdentity('console');

  it('first load: sign-in page (numbers printed)', async () => {
    const sizes: Promise<number>[] = [];
    const onResponse = (r: import('playwright-core').Response) => sizes.push(r.request().sizes().then((s) => s.responseBodySize + s.responseHeadersSize, () => 0));
    page.on('response', onResponse);
    await page.goto(`${base}/account`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    const tti = await page.evaluate(() => performance.now());
    page.off('response', onResponse);
    const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    note(`first load: ${sizes.length} responses, ${bytes} bytes transferred, interactive after ${tti.toFixed(0)} ms`);
    expect(page.url()).toBe(`${base}/account/sign-in`);
    await shot('sign-in');
  });

  it('register, then verify the address through the emailed link (the GET shows a button; the post verifies)', async () => {
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill(id.username);
    await page.getByLabel('Email').fill(id.email);
    await page.getByLabel(/^Password/).fill(id.password);
    await shot('register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    expect(page.url()).toBe(`${base}/account/sessions`);
    expect(await context.cookies()).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'latchkey_refresh', httpOnly: true, sameSite: 'Strict' })]));
    expect(await page.evaluate<number>('localStorage.length + sessionStorage.length')).toBe(0); // the refresh token is in the cookie only

    // Ask for the link again: the first one stops working, the second verifies.
    await page.getByRole('button', { name: 'Send the link again' }).click();
    await page.getByText('A new link is on its way').waitFor();
    const links = [await mailTo(id.email, /verify/i), await mailTo(id.email, /verify/i)].map((m) => linkIn(m.text, '/auth/verify-email?token='));
    // Which is which, whatever order they were delivered in: a GET without JSON only looks (200 page or 303).
    const usable = await Promise.all(links.map(async (l) => (await fetch(l, { redirect: 'manual' })).status === 200));
    expect(usable.filter(Boolean)).toHaveLength(1);
    const link = links[usable.indexOf(true)]!;
    await page.goto(link);
    await shot('verify-email');
    const user = () => server.infra.prisma.user.findFirstOrThrow({ where: { email: id.email } });
    expect((await user()).emailVerifiedAt).toBeNull(); // the GET changed nothing
    await page.getByRole('button', { name: /verify/i }).click();
    await page.waitForURL(`${base}/account/sessions`);
    await page.locator('.notice.ok').first().waitFor();
    expect(await page.locator('.notice.ok').first().textContent()).toMatch(/verified/i);
    await shot('verify-result');
    expect((await user()).emailVerifiedAt).not.toBeNull();
  });

  it('resumes the session from the cookie on reload; signs out; signs in with the password', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
    await page.waitForURL(`${base}/account/sign-in`);
    expect(await context.cookies()).toEqual([]);
    await page.getByLabel('Username or email').fill(id.username);
    await page.getByLabel('Password').fill(id.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await page.locator('#sessions li').first().waitFor();
    await shot('sessions');
  });

  it('two tabs opened at once both resume the one session (their refreshes take turns)', async () => {
    const second = await context.newPage();
    try {
      await Promise.all([page.reload(), second.goto(`${base}/account/sessions`)]);
      await Promise.all([page, second].map((p) => p.getByRole('heading', { name: 'Your sessions' }).waitFor()));
      // Both hold a working token of the same, still live, session.
      await page.reload();
      await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
      expect(await page.locator('#sessions li').count()).toBe(1);
    } finally {
      await second.close();
    }
  });

  let elsewhere: { accessToken: string } | undefined;
  it('a sign-in elsewhere appears in the feed live; revoking it from the console ends it', async () => {
    // The feed is subscribed once the page shows: wait for the socket's subscription to be in place.
    await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.includes('graphql-ws')));
    await new Promise((r) => setTimeout(r, 500));
    const before = await page.locator('#events li').count();
    const started = Date.now();
    const res = await login(server, id.username, id.password, { 'user-agent': 'Elsewhere-Device/2.0' });
    elsewhere = res.body.data!.login as { accessToken: string };
    await page.locator('#events li', { hasText: 'Elsewhere-Device/2.0' }).first().waitFor({ timeout: 10_000 });
    note(`event-to-screen: a sign-in elsewhere showed ${Date.now() - started} ms after the login request was sent (login included)`);
    expect(await page.locator('#events li').count()).toBeGreaterThan(before);
    const row = page.locator('#sessions li', { hasText: 'Elsewhere-Device/2.0' });
    await row.waitFor();
    await shot('sessions-live');
    await row.getByRole('button', { name: /sign out/i }).click();
    await row.waitFor({ state: 'detached' });
    expect(codeOf((await me(server, elsewhere.accessToken)).body)).toBe('UNAUTHENTICATED');
  });

  it('when this session is revoked elsewhere the console signs itself out at once', async () => {
    const other = (await login(server, id.username, id.password, { 'user-agent': 'Elsewhere-Device/3.0' })).body.data!.login as { accessToken: string };
    await page.locator('#sessions li', { hasText: 'Elsewhere-Device/3.0' }).waitFor();
    const r = await gql(server, 'mutation { revokeOtherSessions }', {}, { authorization: `Bearer ${other.accessToken}` });
    expect(r.body.data).toEqual({ revokeOtherSessions: 1 });
    await page.waitForURL(`${base}/account/sign-in`, { timeout: 10_000 });
    await page.locator('.notice', { hasText: /signed out|ended/i }).first().waitFor();
    await shot('signed-out');
  });

  it('reset the password through the emailed link (APP_URL defaults to PUBLIC_URL/account)', async () => {
    await page.goto(`${base}/account/forgot-password`);
    await page.getByLabel('Email').fill(id.email);
    await shot('forgot-password');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const mail = await mailTo(id.email, /reset/i);
    const link = linkIn(mail.text, `${base}/account/reset-password?token=`);
    await page.goto(link);
    expect(page.url()).toBe(`${base}/account/reset-password`); // the token left the address bar
    await shot('reset-password');
    id.password = `${id.password}-new`;
    await page.getByLabel(/New password/).fill(id.password);
    await page.getByRole('button', { name: 'Save the new password' }).click();
    await page.locator('.notice.ok').waitFor();
    expect(codeOf((await login(server, id.username, id.password)).body)).toBeUndefined();
  });

  it('deny a sign-in through the emailed link: the page acts only when its button is pressed', async () => {
    const stranger = (await login(server, id.username, id.password, { 'user-agent': STRANGER })).body.data!.login as { accessToken: string };
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, id.email) && /new sign-in/i.test(m.subject) && /Firefox/.test(m.text ?? ''), 15_000);
    const link = linkIn(mail.text, `${base}/account/deny-sign-in?token=`);
    await page.goto(link);
    await page.getByRole('heading', { name: 'Was this you?' }).waitFor();
    await page.locator('#deny-what li', { hasText: 'Firefox on Windows' }).waitFor(); // what it concerns
    await shot('deny-sign-in');
    expect((await me(server, stranger.accessToken)).body.data?.me).toBeDefined(); // opening the page ended nothing
    await page.getByRole('button', { name: /end that session/i }).click();
    await page.getByRole('heading', { name: 'That session has ended' }).waitFor();
    await shot('deny-sign-in-done');
    expect(codeOf((await me(server, stranger.accessToken)).body)).toBe('UNAUTHENTICATED');
  });

  it('magic link: asked for on the sign-in page; the emailed link signs in only when its button is pressed', async () => {
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Email', { exact: true }).fill(id.email);
    await page.getByRole('button', { name: 'Email me a link' }).click();
    await page.locator('#magic-sent').waitFor();
    const mail = await mailTo(id.email, /sign-in link/i);
    await page.goto(linkIn(mail.text, `${base}/account/magic-link?token=`));
    await page.getByRole('heading', { name: 'Sign in with your email link' }).waitFor();
    await shot('magic-link');
    await page.getByRole('button', { name: 'Sign me in' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
  });

  it('passkeys: add one (a virtual authenticator), sign in with it, delete it', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByLabel(/^Name/).fill('Test laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.locator('#passkeys li', { hasText: 'Test laptop' }).waitFor();
    await shot('passkeys');
    await sectionShot('security-passkeys', 'pk-h');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/account/sign-in`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();

    await page.getByRole('link', { name: 'Security' }).click();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete passkey Test laptop' }).click();
    await page.locator('#passkeys li', { hasText: 'No passkeys yet' }).waitFor();
    expect(await server.infra.prisma.passkey.count()).toBe(0);
  });

  it('is served in production too', async () => {
    const prod = await fx.start({ env: { NODE_ENV: 'production', BCRYPT_COST: '10', ...PRODUCTION_MAIL_ENV }, workers: false });
    const res = await fetch(`${prod.url}/account/sessions`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${prod.url}/account/app.js`)).status).toBe(200);
  });

  const recovery: string[] = [];
  const signIn = async () => {
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Username or email').fill(id.username);
    await page.getByLabel('Password').fill(id.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  it('two-factor: enroll with the QR code or key, confirm, see the recovery codes once; the next sign-in asks for a code (an app code, then a recovery code)', async () => {
    await signIn();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await shot('security');
    await sectionShot('security-password', 'pw-h');
    await sectionShot('security-two-factor', 'tf-h');
    await sectionShot('security-delete', 'del-h');
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await page.locator('#totp-secret').textContent())!;
    expect(await page.getByRole('img', { name: /QR code/ }).evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    await shot('two-factor-enroll');
    await page.getByLabel('The 6-digit code your app shows').fill(totpAt(secret, stepNow()));
    await page.getByRole('button', { name: 'Turn it on' }).click();
    await page.locator('#recovery-codes li').first().waitFor();
    recovery.push(...(await page.locator('#recovery-codes li').allTextContents()));
    await shot('two-factor-recovery-codes');
    expect(recovery.length).toBeGreaterThanOrEqual(8);
    await page.getByRole('button', { name: 'I have saved them' }).click();
    expect((await server.infra.prisma.user.findFirstOrThrow({ where: { email: id.email } })).mfaEnabledAt).not.toBeNull();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/account/sign-in`);
    await signIn();
    await page.getByRole('heading', { name: 'Two-factor check' }).waitFor();
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').waitFor();
    await shot('two-factor-check');
    // The next step's code (the enrollment used this step's, and a step is never accepted twice).
    await page.getByLabel('Code').fill(totpAt(secret, stepNow() + 1));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();

    // A recovery code works in its place.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/account/sign-in`);
    await signIn();
    await page.getByRole('heading', { name: 'Two-factor check' }).waitFor();
    await page.getByLabel('Code').fill(recovery[0]!);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
  });

  it('change the password (with a code), then delete the account', async () => {
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByLabel('Current password').fill(id.password);
    id.password = `${id.password}-2`;
    await page.getByLabel(/^New password/).fill(id.password);
    await page.locator('#pw-h ~ form').getByLabel(/Two-factor code/).fill(recovery[1]!);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('.notice.ok', { hasText: /password is changed/ }).waitFor();
    expect(codeOf((await login(server, id.username, id.password)).body)).toBeUndefined();

    await page.locator('#del-h ~ form').getByLabel('Your password').fill(id.password);
    await page.locator('#del-h ~ form').getByLabel(/Two-factor code/).fill(recovery[2]!);
    page.once('dialog', (d) => void d.accept());
    // The sign-in is no longer recent: the service asks for proof first, and the deletion goes on after it.
    await server.infra.prisma.session.updateMany({ where: { user: { email: id.email } }, data: { authenticatedAt: new Date(Date.now() - 3_600_000) } });
    await page.getByRole('button', { name: 'Delete my account' }).click();
    const proof = page.locator('#del-h ~ div');
    await proof.getByLabel('Your password').fill(id.password);
    await proof.getByLabel(/Two-factor code/).fill(recovery[3]!);
    await shot('reauthenticate');
    await proof.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(`${base}/account/sign-in`);
    await page.locator('.notice.ok', { hasText: /deleted/ }).waitFor();
    expect(codeOf((await login(server, id.username, id.password)).body)).toBe('INVALID_CREDENTIALS');
  });

  it('made no request to another host, and logged no error or CSP violation', () => {
    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
  });
});
