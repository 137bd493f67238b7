import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdentity, register } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';

/**
 * End to end in Debian's Chromium: a virtual platform authenticator (CDP WebAuthn domain: CTAP2, internal
 * transport, resident keys, user verification) on a small page this test serves at http://localhost:<port>,
 * the origin the service is told to accept (WEBAUTHN_ORIGINS; RP id localhost). The page talks to the
 * service over CORS like a first-party frontend on another port would. Register, sign out, sign in without
 * typing a name.
 */

/** The page: plain WebAuthn calls and the base64url conversions the JSON forms need, written out. */
const page = (api: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>passkey test page</title></head><body><p>passkeys</p>
<script>
const API = ${JSON.stringify(api)};
const fromB64url = (s) => {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
};
const toB64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
async function gql(query, variables, token) {
  const res = await fetch(API + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
const common = (cred) => ({
  id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
  clientExtensionResults: cred.getClientExtensionResults(),
  authenticatorAttachment: cred.authenticatorAttachment || undefined,
});
window.registerPasskey = async (token, name) => {
  const { startPasskeyRegistration: c } = await gql('mutation { startPasskeyRegistration { challengeId options } }', {}, token);
  const o = c.options;
  const publicKey = { ...o, challenge: fromB64url(o.challenge), user: { ...o.user, id: fromB64url(o.user.id) }, excludeCredentials: withIds(o.excludeCredentials) };
  const cred = await navigator.credentials.create({ publicKey });
  const response = { ...common(cred), response: {
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    attestationObject: toB64url(cred.response.attestationObject),
    transports: cred.response.getTransports ? cred.response.getTransports() : [],
  } };
  const done = await gql('mutation F($c: ID!, $r: JSON!, $n: String) { finishPasskeyRegistration(challengeId: $c, response: $r, name: $n) { id name } }',
    { c: c.challengeId, r: response, n: name }, token);
  return done.finishPasskeyRegistration;
};
window.signOut = async (token) => (await gql('mutation { logout }', {}, token)).logout;
window.signInWithPasskey = async () => {
  const { startPasskeyLogin: c } = await gql('mutation { startPasskeyLogin { challengeId options } }', {});
  const o = c.options;
  const cred = await navigator.credentials.get({ publicKey: { ...o, challenge: fromB64url(o.challenge), allowCredentials: withIds(o.allowCredentials) } });
  const response = { ...common(cred), response: {
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    authenticatorData: toB64url(cred.response.authenticatorData),
    signature: toB64url(cred.response.signature),
    userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : undefined,
  } };
  const done = await gql('mutation F($c: ID!, $r: JSON!) { finishPasskeyLogin(challengeId: $c, response: $r) { accessToken user { id username } } }',
    { c: c.challengeId, r: response });
  return done.finishPasskeyLogin;
};
</script></body></html>`;

describe('passkeys in Chromium (virtual authenticator)', () => {
  const fx = useTestServers('passkeys-browser');
  let pages: Server;
  let origin = '';
  let api = '';
  let server: TestServer;
  let browser: Browser;
  let tab: Page;
  let cdp: CDPSession;

  beforeAll(async () => {
    pages = createServer((req, res) => {
      if (req.url !== '/') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(api));
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    origin = `http://localhost:${(pages.address() as AddressInfo).port}`;
    server = await fx.start({ env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin } });
    api = server.url.replace('127.0.0.1', 'localhost');
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP localhost 127.0.0.1'],
    });
    const context = await browser.newContext();
    tab = await context.newPage();
    cdp = await context.newCDPSession(tab);
    await cdp.send('WebAuthn.enable');
    await tab.goto(`${origin}/`);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pages?.close(resolve));
  });

  it('registers a passkey, signs out, and signs in again without typing a name', async () => {
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    const t = await register(server, newIdentity('chromium'));

    const added = await tab.evaluate(([token]) => (globalThis as unknown as { registerPasskey: (t: string, n: string) => Promise<{ id: string; name: string }> }).registerPasskey(token!, 'Chromium'), [
      t.accessToken,
    ]);
    expect(added.name).toBe('Chromium');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    const stored = await server.infra.prisma.passkey.findUniqueOrThrow({ where: { id: added.id } });
    expect(stored.credentialId).toBe(credentials[0]!.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));

    expect(await tab.evaluate(([token]) => (globalThis as unknown as { signOut: (t: string) => Promise<boolean> }).signOut(token!), [t.accessToken])).toBe(true);
    const session = await server.infra.prisma.session.findFirstOrThrow({ where: { userId: t.user.id } });
    expect(session.revokedAt).not.toBeNull();

    const signedIn = await tab.evaluate(() => (globalThis as unknown as { signInWithPasskey: () => Promise<{ accessToken: string; user: { id: string } }> }).signInWithPasskey());
    expect(signedIn.user.id).toBe(t.user.id);
    const sessions = await server.infra.prisma.session.findMany({ where: { userId: t.user.id, revokedAt: null } });
    expect(sessions).toHaveLength(1);
    const entry = await server.infra.prisma.auditEntry.findFirstOrThrow({ where: { targetUserId: t.user.id, action: 'user.signed_in', sessionId: sessions[0]!.id } });
    expect(entry.details).toMatchObject({ method: 'passkey' });
    expect((await server.infra.prisma.passkey.findUniqueOrThrow({ where: { id: added.id } })).lastUsedAt).not.toBeNull();
  });
});
