import { createServer, type AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { TestServer, TestServers } from '../../test/harness.js';

/** What the console's browser tests share: Chromium, the server at a localhost address, a page that reports what it should not do. */

/** Where the screenshots go (a test artifact folder; look at them). */
export const SHOTS = '.tmp/console-screenshots';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** A phone-sized screen. */
export const PHONE = { width: 390, height: 844 };

/** Numbers for the report, printed and never asserted. */
export const note = (line: string) => process.stdout.write(`[console] ${line}\n`);

/** A port free right now (the server then listens on it). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}

/**
 * A server whose PUBLIC_URL is the address the browser opens (the links and redirects the service makes
 * must work), with APP_URL unset: its default, PUBLIC_URL/account, is what the emails link to. localhost,
 * not 127.0.0.1: a passkey's relying party must be a domain name.
 */
export async function startConsoleServer(fx: TestServers, env: Record<string, string> = {}): Promise<{ server: TestServer; base: string }> {
  await mkdir(SHOTS, { recursive: true });
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const server = await fx.start({ port, env: { PUBLIC_URL: base, APP_URL: undefined as unknown as string, ...env } });
  return { server, base };
}

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });

/** What pages did that a test refuses: requests to another host, and console errors and warnings (CSP violations are among them). */
export interface PageWatch {
  readonly foreign: string[];
  readonly problems: string[];
}

/** Records on `watch` what `page` does that it should not. */
export function watchPage(page: Page, base: string, watch: PageWatch): void {
  const own = new URL(base).origin;
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => {
    if (!r.url().startsWith(own)) watch.foreign.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') watch.problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => watch.problems.push(`pageerror: ${e.message}`));
}

/** A new browser context (its own cookies: another person's browser) at phone size, with one watched page. */
export async function phonePage(browser: Browser, base: string, watch: PageWatch): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  watchPage(page, base, watch);
  return { context, page };
}

/** Signs in on the console's sign-in page with a password (no second factor) and waits for the sessions page. */
export async function signInThroughConsole(page: Page, base: string, identifier: string, password: string): Promise<void> {
  await page.goto(`${base}/account/sign-in`);
  await page.getByLabel('Username or email').fill(identifier);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Your sessions' }).waitFor();
}
