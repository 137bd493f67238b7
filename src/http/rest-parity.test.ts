import { beforeAll, describe, expect, it } from 'vitest';
import { accountWithRole } from '../test/admin-client.js';
import { newIdentity, type Tokens } from '../test/auth-client.js';
import { useTestServer } from '../test/harness.js';
import { PRODUCTION_MAIL_ENV, sentTo, tokenIn } from '../test/mail-server.js';
import { OpenApiClient, type Answer } from '../test/openapi-client.js';
import { SoftAuthenticator } from '../test/soft-authenticator.js';
import { stepNow, totpAt } from '../test/totp.js';

type Payload = Tokens & { user: Tokens['user'] & { role: string } };
const sidOf = (accessToken: string) => (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

/**
 * The REST shim end to end: every route of GET /openapi.json is called, each answer checked against the
 * document (status listed, body valid for its media type), and the state each route changes checked
 * through the API. The last test fails if a documented operation was never exercised.
 */
describe('REST parity and the OpenAPI document', () => {
  const fx = useTestServer('restparity', { mail: true });
  let api: OpenApiClient;
  let id: ReturnType<typeof newIdentity>;
  let me: Payload;
  /** The token of the newest email to `email` whose link goes to `path` (and is not `not`). */
  const linkTo = async (email: string, path: string, not?: string) => {
    const has = (text: string | undefined) => (text ?? '').includes(`${path}?token=`);
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, email) && has(m.text) && tokenIn(m.text!.slice(m.text!.indexOf(`${path}?token=`))) !== not, 10_000);
    return tokenIn(mail.text!.slice(mail.text!.indexOf(`${path}?token=`)));
  };

  beforeAll(async () => {
    const res = await fetch(`${fx.server.url}/openapi.json`);
    expect(res.status).toBe(200);
    api = new OpenApiClient(fx.server.url, (await res.json()) as never);
  });

  it('documents every REST route the app registers, with problem+json errors and both security schemes', async () => {
    const undocumented = fx.server.app.routes.filter((r) => !r.documented).map((r) => `${r.method} ${r.url}`);
    // GraphQL has its own schema; GraphiQL, the dev mail outbox and this reference are development tools;
    // the account console serves pages, not an API.
    expect(undocumented.filter((r) => !/ (\/graphql|\/graphiql|\/ruru-static\/|\/dev\/|\/api-reference|\/account(\/\*)?$|\*)/.test(r))).toEqual([]);
    expect(api.doc.openapi).toBe('3.1.0');
    expect(Object.keys((api.doc.components as unknown as { securitySchemes: object }).securitySchemes).sort()).toEqual(['bearerAuth', 'serviceKey']);
    const me = api.doc.paths['/v1/auth/me']!.get as unknown as { security: unknown; responses: Record<string, { content: Record<string, unknown> }> };
    expect(me.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(me.responses['401']!.content)).toEqual(['application/problem+json']);
    await api.call('GET', '/openapi.json');
  });

  it('serves a readable reference from its own origin in development, nothing loaded from elsewhere', async () => {
    const res = await fetch(`${fx.server.url}/api-reference`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await res.text();
    expect(html).toContain('/v1/auth/change-password');
    expect(html).toContain('id="schema-AuthPayload"');
    expect(html).not.toMatch(/<script|https?:\/\/(?!localhost)[^"<\s]*\.(js|css)/);
  });

  it('answers the probes and the keys as documented', async () => {
    await api.call('GET', '/healthz');
    await api.call('GET', '/readyz');
    await api.call('GET', '/metrics');
    expect((await api.call('GET', '/.well-known/jwks.json')).json.keys).toHaveLength(1);
  });

  it('signs up, in (both prefixes) and refreshes', async () => {
    id = newIdentity('rest');
    const reg = await api.call('POST', '/v1/auth/register', { body: id });
    expect(reg.status).toBe(201);
    me = reg.json as unknown as Payload;
    expect((await api.call('POST', '/v1/auth/register', { body: { ...id, username: `${id.username}x` } })).json.code).toBe('EMAIL_TAKEN');
    expect((await api.call('POST', '/auth/login', { body: { email: id.email, password: id.password } })).status).toBe(200);
    expect((await api.call('POST', '/v1/auth/login', { body: { username: id.username, password: 'wrong-password-1' } })).json.code).toBe('INVALID_CREDENTIALS');
    const refreshed = await api.call('POST', '/v1/auth/refresh', { body: { refreshToken: me.refreshToken } });
    expect(refreshed.status).toBe(200);
    me = refreshed.json as unknown as Payload;
    expect((await api.call('POST', '/v1/auth/refresh', { body: {} })).json.code).toBe('BAD_USER_INPUT');
  });

  it('GET /me and /sessions answer the caller; no token is 401', async () => {
    const got = await api.call('GET', '/auth/me', { token: me.accessToken });
    expect(got.json).toMatchObject({ id: me.user.id, username: id.username, emailVerified: false, mfaEnabled: false, role: 'USER' });
    expect((await api.call('GET', '/v1/auth/me')).json.code).toBe('UNAUTHENTICATED');
    const sessions = (await api.call('GET', '/v1/auth/sessions', { token: me.accessToken })).json.sessions as { id: string; current: boolean }[];
    expect(sessions.find((s) => s.current)?.id).toBe(sidOf(me.accessToken));
  });

  it('verifies the address: resend, the link page (GET changes nothing), POST, then the link is spent', async () => {
    const first = await linkTo(id.email, '/verify-email');
    expect((await api.call('POST', '/v1/auth/verify-email/resend', { token: me.accessToken })).json).toEqual({ sent: true });
    const token = await linkTo(id.email, '/verify-email', first);
    const page = await api.call('GET', `/v1/auth/verify-email?token=${token}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect((await api.call('GET', '/v1/auth/me', { token: me.accessToken })).json.emailVerified).toBe(false);
    const done = await api.call('POST', '/v1/auth/verify-email', { body: { token } });
    expect(done.json).toMatchObject({ verified: true, user: { emailVerified: true } });
    expect((await api.call('GET', `/v1/auth/verify-email?token=${token}`, { headers: { accept: 'application/json' } })).json.code).toBe('INVALID_TOKEN');
    expect((await api.call('GET', `/v1/auth/verify-email?token=${token}`, { headers: { accept: 'text/html' } })).status).toBe(303);
    expect((await api.call('POST', '/v1/auth/verify-email', { form: { token } })).status).toBe(303);
    expect((await api.call('POST', '/v1/auth/verify-email/resend', { token: me.accessToken })).json).toEqual({ sent: false });
  });

  it('pages the security events and marks them read', async () => {
    const page = await api.call('GET', '/v1/auth/security-events?first=1', { token: me.accessToken });
    expect((page.json.events as { type: string }[]).map((e) => e.type)).toEqual(['EMAIL_VERIFIED']);
    expect(page.json.pageInfo).toMatchObject({ hasNextPage: true });
    const next = await api.call('GET', `/v1/auth/security-events?after=${(page.json.pageInfo as { endCursor: string }).endCursor}`, { token: me.accessToken });
    expect((next.json.events as { type: string }[]).map((e) => e.type)).toContain('SIGNED_IN');
    const all = (await api.call('GET', '/v1/auth/security-events', { token: me.accessToken })).json.events as { id: string; readAt: string | null }[];
    expect(all.every((e) => e.readAt === null)).toBe(true);
    expect((await api.call('POST', '/v1/auth/security-events/read', { token: me.accessToken, body: { ids: all.map((e) => e.id) } })).json).toEqual({ marked: all.length });
    const again = (await api.call('GET', '/v1/auth/security-events', { token: me.accessToken })).json.events as { readAt: string | null }[];
    expect(again.every((e) => e.readAt !== null)).toBe(true);
    expect((await api.call('GET', '/v1/auth/security-events?first=1000', { token: me.accessToken })).json.code).toBe('BAD_USER_INPUT');
  });

  it('enrolls TOTP, signs in with the second step, and turns it off', async () => {
    const enrolled = await api.call('POST', '/v1/auth/mfa/totp/enroll', { token: me.accessToken });
    const secret = enrolled.json.secret as string;
    expect(enrolled.json.otpauthUrl).toMatch(/^otpauth:\/\/totp\//);
    expect((await api.call('POST', '/v1/auth/mfa/totp/confirm', { token: me.accessToken, body: { code: '000000' } })).json.code).toBe('INVALID_TOKEN');
    const confirmed = await api.call('POST', '/v1/auth/mfa/totp/confirm', { token: me.accessToken, body: { code: totpAt(secret, stepNow()) } });
    const codes = confirmed.json.recoveryCodes as string[];
    expect(codes.length).toBeGreaterThan(5);
    expect((await api.call('GET', '/v1/auth/me', { token: me.accessToken })).json.mfaEnabled).toBe(true);
    const challenge = await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } });
    expect(challenge.json).toMatchObject({ mfaRequired: true });
    const second = await api.call('POST', '/v1/auth/login/mfa', { body: { mfaToken: challenge.json.mfaToken, code: codes[0] } });
    expect(second.json.accessToken).toEqual(expect.any(String));
    expect((await api.call('POST', '/v1/auth/mfa/totp/disable', { token: me.accessToken, body: { code: codes[1] } })).status).toBe(204);
    expect((await api.call('GET', '/v1/auth/me', { token: me.accessToken })).json.mfaEnabled).toBe(false);
  });

  it('reauthenticates and changes the password, ending the other sessions', async () => {
    expect((await api.call('POST', '/v1/auth/reauthenticate', { token: me.accessToken, body: { password: 'not-the-password-1' } })).json.code).toBe('INVALID_CREDENTIALS');
    expect((await api.call('POST', '/v1/auth/reauthenticate', { token: me.accessToken, body: { password: id.password } })).status).toBe(204);
    const other = (await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } })).json as unknown as Payload;
    const newPassword = `${id.password}-new`;
    expect((await api.call('POST', '/v1/auth/change-password', { token: me.accessToken, body: { currentPassword: id.password, newPassword: 'short' } })).status).toBe(400);
    expect((await api.call('POST', '/v1/auth/change-password', { token: me.accessToken, body: { currentPassword: id.password, newPassword } })).status).toBe(204);
    expect((await api.call('GET', '/v1/auth/me', { token: other.accessToken })).status).toBe(401);
    expect((await api.call('GET', '/v1/auth/me', { token: me.accessToken })).status).toBe(200);
    id = { ...id, password: newPassword };
  });

  it('revokes one session, then the others', async () => {
    const b = (await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } })).json as unknown as Payload;
    const c = (await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } })).json as unknown as Payload;
    expect((await api.call('DELETE', `/v1/auth/sessions/${sidOf(b.accessToken)}`, { token: me.accessToken })).status).toBe(204);
    expect((await api.call('GET', '/v1/auth/me', { token: b.accessToken })).status).toBe(401);
    expect((await api.call('DELETE', `/v1/auth/sessions/${sidOf(b.accessToken)}`, { token: me.accessToken })).json.code).toBe('NOT_FOUND');
    expect((await api.call('DELETE', '/v1/auth/sessions/not-a-uuid', { token: me.accessToken })).json.code).toBe('BAD_USER_INPUT');
    expect((await api.call('POST', '/v1/auth/sessions/revoke-others', { token: me.accessToken })).json).toEqual({ revoked: 1 });
    expect((await api.call('GET', '/v1/auth/me', { token: c.accessToken })).status).toBe(401);
  });

  it('resets a password and signs in by email link', async () => {
    expect((await api.call('POST', '/v1/auth/reset-password/request', { body: { email: id.email } })).status).toBe(202);
    const reset = await linkTo(id.email, '/reset-password');
    id = { ...id, password: `${id.password}-2` };
    expect((await api.call('POST', '/v1/auth/reset-password/confirm', { body: { token: reset, newPassword: id.password } })).status).toBe(204);
    expect((await api.call('POST', '/v1/auth/reset-password/confirm', { body: { token: reset, newPassword: id.password } })).json.code).toBe('INVALID_TOKEN');
    expect((await api.call('POST', '/v1/auth/magic-link/request', { body: { email: id.email } })).status).toBe(202);
    const link = await linkTo(id.email, '/magic-link');
    const signedIn = await api.call('POST', '/v1/auth/magic-link/sign-in', { body: { token: link } });
    me = signedIn.json as unknown as Payload;
    expect(me.user.id).toEqual(expect.any(String));
  });

  it('adds a passkey, signs in with it, and removes it', async () => {
    const device = new SoftAuthenticator({ origin: 'http://app.test.local' }); // the RP of the mail fixture's APP_URL
    const options = await api.call('POST', '/v1/auth/passkeys/registration/options', { token: me.accessToken, body: {} });
    const created = await api.call('POST', '/v1/auth/passkeys', {
      token: me.accessToken,
      body: { challengeId: options.json.challengeId, response: device.create(options.json.options as Record<string, unknown>), name: 'laptop' },
    });
    expect(created.status).toBe(201);
    expect((await api.call('GET', '/v1/auth/passkeys', { token: me.accessToken })).json.passkeys).toEqual([expect.objectContaining({ id: created.json.id, name: 'laptop' })]);
    const login = await api.call('POST', '/v1/auth/passkey/login/options', { body: { identifier: id.username } });
    const signedIn = await api.call('POST', '/v1/auth/passkey/login', { body: { challengeId: login.json.challengeId, response: device.assert(login.json.options as Record<string, unknown>) } });
    expect((signedIn.json as unknown as Payload).user.id).toBe(me.user.id);
    expect((await api.call('DELETE', `/v1/auth/passkeys/${String(created.json.id)}`, { token: me.accessToken })).status).toBe(204);
    expect((await api.call('DELETE', `/v1/auth/passkeys/${String(created.json.id)}`, { token: me.accessToken })).json.code).toBe('NOT_FOUND');
  });

  it('answers unusable tokens of the email links as documented, in JSON and as pages', async () => {
    const bogus = 'x'.repeat(43);
    expect((await api.call('POST', '/v1/auth/deny-sign-in', { body: { token: bogus } })).json.code).toBe('INVALID_TOKEN');
    expect((await api.call('GET', `/v1/auth/unlock-account?token=${bogus}`, { headers: { accept: 'application/json' } })).json.code).toBe('INVALID_TOKEN');
    expect((await api.call('GET', `/v1/auth/unlock-account?token=${bogus}`, { headers: { accept: 'text/html' } })).status).toBe(400);
    expect((await api.call('POST', '/v1/auth/unlock-account', { body: { token: bogus } })).json.code).toBe('INVALID_TOKEN');
    expect((await api.call('POST', '/v1/auth/unlock-account', { form: { token: bogus } })).status).toBe(400);
  });

  describe('operators', () => {
    let admin: Tokens;
    let target: Payload;
    let keyAnswer: Answer;

    beforeAll(async () => {
      admin = await accountWithRole(fx.server, 'ADMIN');
      target = (await api.call('POST', '/v1/auth/register', { body: newIdentity('target') })).json as unknown as Payload;
    });

    it('manage accounts under /v1/admin, each route over the admin service', async () => {
      const t = admin.accessToken;
      const path = `/v1/admin/users/${target.user.id}`;
      expect((await api.call('GET', '/v1/admin/users', { token: me.accessToken })).json.code).toBe('FORBIDDEN');
      expect((await api.call('GET', `/v1/admin/users?query=${target.user.username.slice(0, 8)}&first=5`, { token: t })).json.totalCount).toBeGreaterThanOrEqual(1);
      expect((await api.call('GET', path, { token: t })).json).toMatchObject({ id: target.user.id, activeSessions: 1 });
      expect((await api.call('GET', '/v1/admin/users/00000000-0000-4000-8000-000000000000', { token: t })).json.code).toBe('NOT_FOUND');
      expect(((await api.call('GET', `${path}/sessions`, { token: t })).json.sessions as unknown[]).length).toBe(1);
      expect((await api.call('POST', `${path}/disable`, { token: t, body: { reason: 'parity' } })).json).toMatchObject({ disabledReason: 'parity' });
      expect((await api.call('POST', `${path}/enable`, { token: t })).json).toMatchObject({ disabledAt: null });
      expect((await api.call('POST', `${path}/sessions/revoke`, { token: t })).json).toEqual({ revoked: 0 });
      expect((await api.call('POST', `${path}/reset-mfa`, { token: t })).json).toMatchObject({ mfaEnabled: false });
      expect((await api.call('POST', `${path}/unlock`, { token: t })).json).toMatchObject({ lockedUntil: null });
      expect((await api.call('PUT', `${path}/role`, { token: t, body: { role: 'SUPPORT' } })).json).toMatchObject({ role: 'SUPPORT' });
      expect((await api.call('PUT', `${path}/role`, { token: t, body: { role: 'ROOT' } })).json.code).toBe('BAD_USER_INPUT');
      const log = await api.call('GET', '/v1/admin/audit-log?action=admin.role_changed', { token: t });
      expect(log.text.trim().split('\n').map((l) => JSON.parse(l) as { action: string }).every((e) => e.action === 'admin.role_changed')).toBe(true);
      expect((await api.call('DELETE', path, { token: t })).status).toBe(204);
      expect((await api.call('GET', path, { token: t })).status).toBe(404);
    });

    it('manage service keys, which open POST /oauth/introspect', async () => {
      const t = admin.accessToken;
      expect((await api.call('POST', '/v1/admin/service-keys', { token: me.accessToken, body: { name: 'x' } })).json.code).toBe('FORBIDDEN');
      keyAnswer = await api.call('POST', '/v1/admin/service-keys', { token: t, body: { name: 'parity gateway' } });
      expect(keyAnswer.status).toBe(201);
      const key = keyAnswer.json as { key: { id: string }; secret: string };
      expect((await api.call('GET', '/v1/admin/service-keys', { token: t })).json.serviceKeys).toContainEqual(expect.objectContaining({ id: key.key.id, revokedAt: null }));
      const basic = { authorization: `Basic ${Buffer.from(`${key.key.id}:${key.secret}`).toString('base64')}` };
      const active = await api.call('POST', '/oauth/introspect', { headers: basic, form: { token: me.accessToken } });
      expect(active.json).toMatchObject({ active: true, sub: me.user.id });
      expect((await api.call('POST', '/oauth/introspect', { headers: basic, form: { token: 'nope' } })).json).toEqual({ active: false });
      expect((await api.call('POST', '/oauth/introspect', { headers: basic, form: {} })).json).toMatchObject({ error: 'invalid_request' });
      expect((await api.call('POST', '/oauth/introspect', { headers: basic, body: { token: me.accessToken } })).status).toBe(415);
      expect((await api.call('POST', `/v1/admin/service-keys/${key.key.id}/revoke`, { token: t })).json).toEqual({ revoked: true });
      expect((await api.call('POST', '/oauth/introspect', { headers: basic, form: { token: me.accessToken } })).json).toMatchObject({ error: 'invalid_client' });
    });
  });

  it('signs out, and erases an account with its password', async () => {
    const other = (await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } })).json as unknown as Payload;
    expect((await api.call('POST', '/v1/auth/logout', { token: other.accessToken })).status).toBe(204);
    expect((await api.call('GET', '/v1/auth/me', { token: other.accessToken })).status).toBe(401);
    expect((await api.call('POST', '/v1/auth/delete-account', { token: me.accessToken, body: { password: 'wrong-password-9' } })).json.code).toBe('INVALID_CREDENTIALS');
    expect((await api.call('POST', '/v1/auth/delete-account', { token: me.accessToken, body: { password: id.password } })).status).toBe(204);
    expect((await api.call('POST', '/v1/auth/login', { body: { identifier: id.username, password: id.password } })).json.code).toBe('INVALID_CREDENTIALS');
  });

  it('exercised every documented operation', () => {
    expect(api.operations().filter((op) => !api.covered.has(op))).toEqual([]);
  });
});

describe('the OpenAPI document in production', () => {
  const fx = useTestServer('openapiprod', { env: { NODE_ENV: 'production', BCRYPT_COST: '10', ...PRODUCTION_MAIL_ENV } });

  it('is served, and the reference page is not', async () => {
    const doc = await fetch(`${fx.server.url}/openapi.json`);
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toBe('3.1.0');
    expect((await fetch(`${fx.server.url}/api-reference`)).status).toBe(404);
  });
});
