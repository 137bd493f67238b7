import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf, login, newIdentity, register, REGISTER } from '../../test/auth-client.js';
import { metricTotal, securityAlerts } from '../../test/alerts.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';

// Small thresholds keep the tests short; the rules are the same at the defaults (10/600 and 20/600).
const ENV = { TRUST_PROXY: '127.0.0.1', ALERT_CREDENTIAL_STUFFING: '4/600', ALERT_SIGNUP_BURST: '3/600' };
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const stranger = () => `nobody_${randomBytes(4).toString('hex')}`;

/** A failed sign-in for `identifier` from `ip`: always INVALID_CREDENTIALS, whether or not the account exists. */
async function failLogin(server: TestServer, identifier: string, ip: string) {
  const res = await login(server, identifier, 'not the password at all', from(ip));
  expect(codeOf(res.body)).toBe('INVALID_CREDENTIALS');
}

async function signUp(server: TestServer, input: Record<string, unknown>, ip: string) {
  return codeOf((await gql(server, REGISTER, { input }, from(ip))).body);
}

describe('credential_stuffing: failed sign-ins for many distinct identifiers from one network', () => {
  const fx = useTestServers('alerts-stuffing');
  let a: TestServer; // two instances over one database and one Redis, as deployed
  let b: TestServer;
  beforeAll(async () => {
    a = await fx.start({ env: ENV });
    b = await fx.start({ env: ENV });
  });

  it('does not fire for one identifier fewer than the threshold, however often they are retried', async () => {
    const ip = '198.51.100.10';
    const ids = [stranger(), stranger(), stranger()];
    for (const [i, id] of ids.entries()) await failLogin(i % 2 ? b : a, id, ip);
    // The same identifiers again, on both instances: a user mistyping, not a list being tried.
    for (const id of [...ids, ...ids]) await failLogin(b, id.toUpperCase(), ip);
    expect(await securityAlerts(a, ip)).toHaveLength(0);
  });

  it('fires once when the threshold is reached across two instances, with one security.alert entry and its metric', async () => {
    const ip = '198.51.100.20';
    const owner = await register(a, newIdentity('stuffed'));
    const before = await metricTotal([a, b], 'latchkey_security_alerts_total', { rule: 'credential_stuffing' });
    // Known and unknown identifiers alike, alternating instances: the 4th distinct one fires.
    await failLogin(a, stranger(), ip);
    await failLogin(b, owner.user.username, ip);
    await failLogin(a, stranger(), ip);
    expect(await securityAlerts(a, ip)).toHaveLength(0);
    await failLogin(b, stranger(), ip);

    const [entry, ...more] = await securityAlerts(a, ip);
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({
      action: 'security.alert',
      outcome: 'SUCCESS',
      actorId: null,
      targetUserId: null,
      ip,
      details: { rule: 'credential_stuffing', ip, count: 4, window: 600 },
    });
    expect(entry!.requestId).toBeTruthy();
    expect(await metricTotal([a, b], 'latchkey_security_alerts_total', { rule: 'credential_stuffing' })).toBe(before + 1);

    // The attack goes on within the window, on both instances: no second alert.
    for (let i = 0; i < 6; i++) await failLogin(i % 2 ? a : b, stranger(), ip);
    expect(await securityAlerts(a, ip)).toHaveLength(1);
    expect(await metricTotal([a, b], 'latchkey_security_alerts_total', { rule: 'credential_stuffing' })).toBe(before + 1);
    // Another network is counted on its own.
    expect(await securityAlerts(a, '198.51.100.21')).toHaveLength(0);
  });

  it('fires exactly once when both instances cross the threshold at the same moment (race between instances)', async () => {
    const ip = '198.51.100.30';
    await Promise.all(Array.from({ length: 12 }, (_, i) => failLogin(i % 2 ? a : b, stranger(), ip)));
    expect(await securityAlerts(a, ip)).toHaveLength(1);
  });

  it('counts an IPv6 client by its /64, as the per-IP limits do', async () => {
    for (let i = 1; i <= 4; i++) await failLogin(i % 2 ? a : b, stranger(), `2001:db8:7:8::${i.toString(16)}`);
    const [entry, ...more] = await securityAlerts(a, '2001:db8:7:8::/64');
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({ ip: '2001:db8:7:8::4', details: { rule: 'credential_stuffing', ip: '2001:db8:7:8::/64', count: 4 } });
  });

  it('leaves a successful sign-in alone and never stores a submitted identifier in Redis', async () => {
    const ip = '198.51.100.40';
    const id = newIdentity('fine');
    await register(a, id, from(ip));
    for (let i = 0; i < 5; i++) expect(codeOf((await login(i % 2 ? a : b, id.username, id.password, from(ip))).body)).toBeUndefined();
    expect(await securityAlerts(a, ip)).toHaveLength(0);

    const secret = stranger();
    await failLogin(a, secret, ip);
    const redis = a.infra.redis;
    const keys = await redis.keys(`${fx.prefix}alert:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(ip);
      const members = (await redis.type(key)) === 'zset' ? await redis.zrange(key, 0, -1) : [];
      expect(members.join(' ')).not.toContain(secret);
    }
  });
});

describe('signup_burst: refused sign-ups from one network', () => {
  const fx = useTestServers('alerts-signup');
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await fx.start({ env: ENV });
    b = await fx.start({ env: ENV });
  });

  it('counts refusals only (weak password, taken, invalid input), fires at the threshold, once, across two instances', async () => {
    const ip = '203.0.113.10';
    const taken = await register(a, newIdentity('taken'));
    const before = await metricTotal([a, b], 'latchkey_security_alerts_total', { rule: 'signup_burst' });

    expect(await signUp(a, { ...newIdentity('weak'), password: 'password' }, ip)).toBe('WEAK_PASSWORD');
    // A sign-up that succeeds is no refusal.
    expect(await signUp(b, newIdentity('ok'), ip)).toBeUndefined();
    expect(await signUp(b, { ...newIdentity('dup'), email: taken.user.email }, ip)).toBe('EMAIL_TAKEN');
    expect(await securityAlerts(a, ip)).toHaveLength(0);
    expect(await signUp(a, { ...newIdentity('bad'), email: 'not-an-email' }, ip)).toBe('BAD_USER_INPUT');

    const [entry, ...more] = await securityAlerts(a, ip);
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({ outcome: 'SUCCESS', actorId: null, targetUserId: null, ip, details: { rule: 'signup_burst', ip, count: 3, window: 600 } });
    expect(await metricTotal([a, b], 'latchkey_security_alerts_total', { rule: 'signup_burst' })).toBe(before + 1);

    for (let i = 0; i < 4; i++) expect(await signUp(i % 2 ? a : b, { ...newIdentity('weak'), password: '12345678' }, ip)).toBe('WEAK_PASSWORD');
    expect(await securityAlerts(a, ip)).toHaveLength(1);
  });

  it('counts sign-ups refused by the RATE_LIMIT_REGISTER limit', async () => {
    const limited = await fx.start({ env: { ...ENV, RATE_LIMIT_REGISTER: '1/600' }, namespace: 'limited' });
    const ip = '203.0.113.20';
    expect(await signUp(limited, newIdentity('first'), ip)).toBeUndefined();
    for (let i = 0; i < 2; i++) expect(await signUp(limited, newIdentity('more'), ip)).toBe('RATE_LIMITED');
    expect(await securityAlerts(limited, ip)).toHaveLength(0);
    expect(await signUp(limited, newIdentity('more'), ip)).toBe('RATE_LIMITED');
    expect(await securityAlerts(limited, ip)).toMatchObject([{ details: { rule: 'signup_burst', ip, count: 3 } }]);
  });
});

describe('rules set to off', () => {
  const fx = useTestServers('alerts-off');
  let server: TestServer;
  beforeAll(async () => {
    server = await fx.start({ env: { TRUST_PROXY: '127.0.0.1', ALERT_CREDENTIAL_STUFFING: 'off', ALERT_SIGNUP_BURST: 'off' } });
  });

  it('never fire, while the metrics still count', async () => {
    const ip = '192.0.2.10';
    for (let i = 0; i < 12; i++) await failLogin(server, stranger(), ip);
    for (let i = 0; i < 21; i++) expect(await signUp(server, { ...newIdentity('weak'), password: 'password' }, ip)).toBe('WEAK_PASSWORD');
    expect(await securityAlerts(server)).toHaveLength(0);
    expect(await metricTotal([server], 'latchkey_login_failures_total')).toBeGreaterThanOrEqual(12);
    expect(await metricTotal([server], 'latchkey_signups_total', { outcome: 'weak_password' })).toBe(21);
  });
});

describe('with Redis unreachable', () => {
  const fx = useTestServers('alerts-redis-down');

  it('failed sign-ins still answer INVALID_CREDENTIALS, and the rule still fires from this instance’s memory', async () => {
    const link = await fx.redisProxy();
    const server = await fx.start({ env: { ...ENV, REDIS_URL: link.url } });
    const ip = '192.0.2.80';
    link.cut();
    try {
      for (let i = 0; i < 3; i++) await failLogin(server, stranger(), ip);
      expect(await securityAlerts(server, ip)).toHaveLength(0);
      for (let i = 0; i < 3; i++) await failLogin(server, stranger(), ip);
      expect(await securityAlerts(server, ip)).toMatchObject([{ details: { rule: 'credential_stuffing', ip, count: 4 } }]);
      const logged = server.logs.map((l) => JSON.parse(l) as { msg?: string; countedIn?: string }).filter((l) => l.msg === 'security alert');
      expect(logged).toMatchObject([{ countedIn: 'memory' }]);
    } finally {
      link.restore();
    }
  });
});
