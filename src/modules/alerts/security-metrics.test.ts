import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALERT_RULE_NAMES, LIMIT_NAMES } from '../../infra/config.js';
import { SIGNUP_OUTCOMES } from '../../infra/metrics.js';
import { bearer, codeOf, login, newIdentity, refresh, register, REGISTER } from '../../test/auth-client.js';
import { metricValue, seriesOf } from '../../test/alerts.js';
import { gql, useTestServer, type TestServer } from '../../test/harness.js';
import { verifyEmailOf } from '../../test/mail-server.js';
import { stepNow, totpAt } from '../../test/totp.js';

const scrape = async (server: TestServer) => (await fetch(`${server.url}/metrics`)).text();
const from = (ip: string) => ({ 'x-forwarded-for': ip });

/** The value of one series now, and a function giving how much it has grown since. */
async function counter(server: TestServer, name: string, labels: Record<string, string> = {}) {
  const start = metricValue(await scrape(server), name, labels);
  return async () => metricValue(await scrape(server), name, labels) - start;
}

describe('security metrics, counted where the events happen', () => {
  const fx = useTestServer('security-metrics', {
    mail: true,
    env: { TRUST_PROXY: '127.0.0.1', LOCKOUT_THRESHOLD: '3', RATE_LIMIT_REGISTER: '3/600', RATE_LIMIT_LOGIN: '4/600' },
  });

  it('exports every label value at 0 from the start, so a first event is an increase', async () => {
    const text = await scrape(fx.server);
    for (const outcome of SIGNUP_OUTCOMES) expect(text).toContain(`latchkey_signups_total{outcome="${outcome}"} `);
    for (const limit of LIMIT_NAMES) expect(text).toContain(`latchkey_rate_limited_total{limit="${limit}"} `);
    for (const rule of ALERT_RULE_NAMES) expect(text).toContain(`latchkey_security_alerts_total{rule="${rule}"} `);
    for (const name of ['latchkey_login_failures_total', 'latchkey_lockouts_total', 'latchkey_refresh_reuse_total']) expect(text).toMatch(new RegExp(`^${name} \\d+$`, 'm'));
  });

  it('latchkey_login_failures_total: wrong password, unknown identifier and a wrong second-factor code; not a success', async () => {
    const grew = await counter(fx.server, 'latchkey_login_failures_total');
    const id = newIdentity('fail');
    const t = await register(fx.server, id, from('192.0.2.30'));
    expect(codeOf((await login(fx.server, id.username, 'wrong password here')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, `nobody_${randomBytes(4).toString('hex')}`, 'wrong password here')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBeUndefined();
    expect(await grew()).toBe(2);

    // Two-factor sign-in: the right password earns a challenge; a wrong code is a failed sign-in.
    await verifyEmailOf(fx.server, fx.mail, t.user.email);
    const start = await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, 'mutation { startTotpEnrollment { secret } }', undefined, bearer(t.accessToken));
    const secret = start.body.data!.startTotpEnrollment.secret;
    await gql(fx.server, 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }', { code: totpAt(secret, stepNow()) }, bearer(t.accessToken));
    const challenge = await gql<{ login: { mfaToken: string } }>(fx.server, 'mutation L($i: LoginInput!) { login(input: $i) { ... on MfaChallenge { mfaToken } } }', {
      i: { identifier: id.username, password: id.password },
    });
    const wrong = totpAt(secret, stepNow() + 10);
    const res = await gql(fx.server, 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }', { i: { mfaToken: challenge.body.data!.login.mfaToken, code: wrong } });
    expect(codeOf(res.body)).toBe('INVALID_TOKEN');
    expect(await grew()).toBe(3);
  });

  it('latchkey_lockouts_total: one per new lock of an account', async () => {
    const grew = await counter(fx.server, 'latchkey_lockouts_total');
    const id = newIdentity('locked');
    await register(fx.server, id, from('192.0.2.40'));
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) codes.push(codeOf((await login(fx.server, id.username, 'wrong password here', from('192.0.2.50'))).body));
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'ACCOUNT_LOCKED']);
    expect(await grew()).toBe(1);
  });

  it('latchkey_refresh_reuse_total: a replayed refresh token', async () => {
    const grew = await counter(fx.server, 'latchkey_refresh_reuse_total');
    const t = await register(fx.server, newIdentity('reuse'), from('192.0.2.45'));
    expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBeUndefined();
    expect(await grew()).toBe(0);
    expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');
    expect(await grew()).toBe(1);
  });

  it('latchkey_signups_total{outcome} and latchkey_rate_limited_total{limit}', async () => {
    const ip = '192.0.2.60';
    const outcomes = Object.fromEntries(await Promise.all(SIGNUP_OUTCOMES.map(async (o) => [o, await counter(fx.server, 'latchkey_signups_total', { outcome: o })] as const)));
    const limited = await counter(fx.server, 'latchkey_rate_limited_total', { limit: 'register' });
    const signUp = async (input: Record<string, unknown>) => codeOf((await gql(fx.server, REGISTER, { input }, from(ip))).body);
    const taken = newIdentity('taken');
    expect(await signUp(taken)).toBeUndefined();
    expect(await signUp({ ...newIdentity('taken'), username: taken.username })).toBe('USERNAME_TAKEN');
    expect(await signUp({ ...newIdentity('weak'), password: 'password' })).toBe('WEAK_PASSWORD');
    expect(await signUp({ ...newIdentity('late') })).toBe('RATE_LIMITED');
    // REST is the same service and the same limit.
    const res = await fetch(`${fx.server.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json', ...from('192.0.2.61') }, body: '{"username":"x"}' });
    expect(res.status).toBe(400);
    const counts = Object.fromEntries(await Promise.all(Object.entries(outcomes).map(async ([o, grew]) => [o, await grew()])));
    expect(counts).toEqual({ created: 1, taken: 1, weak_password: 1, rate_limited: 1, invalid: 1, error: 0 });
    expect(await limited()).toBe(1);
  });

  it('keeps every label within its fixed set whatever clients send (no address, identifier or limit key becomes a label)', async () => {
    const marker = `zz${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 6; i++) await login(fx.server, `${marker}${i}`, 'wrong password here', from(`10.9.${i}.1`));
    for (let i = 0; i < 6; i++) await login(fx.server, `${marker}`, 'wrong password here', from('10.9.9.9'));
    await gql(fx.server, REGISTER, { input: { username: marker, email: `${marker}@example.com`, password: 'password' } }, from('10.9.9.10'));
    const text = await scrape(fx.server);
    expect(text).not.toContain(marker);
    expect(text).not.toContain('10.9.');
    for (const s of seriesOf(text, 'latchkey_signups_total')) expect(SIGNUP_OUTCOMES).toContain(s.outcome);
    for (const s of seriesOf(text, 'latchkey_rate_limited_total')) expect(LIMIT_NAMES).toContain(s.limit);
    for (const s of seriesOf(text, 'latchkey_security_alerts_total')) expect(ALERT_RULE_NAMES).toContain(s.rule);
    expect(seriesOf(text, 'latchkey_signups_total')).toHaveLength(SIGNUP_OUTCOMES.length);
    expect(seriesOf(text, 'latchkey_rate_limited_total')).toHaveLength(LIMIT_NAMES.length);
    expect(seriesOf(text, 'latchkey_security_alerts_total')).toHaveLength(ALERT_RULE_NAMES.length);
  });
});
