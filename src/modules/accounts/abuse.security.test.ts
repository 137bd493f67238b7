import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, login, newIdentity, register, rest } from '../../test/auth-client.js';
import { createTestDatabase, type TestDatabase } from '../../test/db.js';
import { clearRedisPrefix, CONTRACT_LIMITS, gql, startTestServer, uniquePrefix, type TestServer } from '../../test/harness.js';
import { startMailServer, sentTo, tokenIn, type ResendDouble } from '../../test/mail-server.js';
import { startResendDouble } from '../../test/resend-double.js';
import { subscribe } from '../../test/subscriber.js';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.js';

describe('rate limits (contract defaults)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let trusting: TestServer; // TRUST_PROXY names the loopback proxy
  let redisProxy: TcpProxy;
  let viaProxy: TestServer;
  const prefix = uniquePrefix('abuse');

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer({ databaseUrl: db.url, redisPrefix: prefix, env: CONTRACT_LIMITS });
    trusting = await startTestServer({ databaseUrl: db.url, redisPrefix: prefix, env: { ...CONTRACT_LIMITS, TRUST_PROXY: '127.0.0.1' } });
    redisProxy = await startTcpProxy('127.0.0.1', 6379);
    viaProxy = await startTestServer({ databaseUrl: db.url, redisPrefix: prefix, env: { ...CONTRACT_LIMITS, REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` } });
  });
  afterAll(async () => {
    for (const s of [server, trusting, viaProxy]) await s?.close();
    await redisProxy?.close();
    await clearRedisPrefix(prefix);
    await db?.drop();
  });

  it('twelve wrong logins hit RATE_LIMITED, and then even the right password waits', async () => {
    const id = newIdentity('twelve');
    await register(server, id);
    const codes = [];
    for (let i = 0; i < 12; i++) codes.push(codeOf((await login(server, id.username, 'wrong password ' + i)).body));
    expect(codes.slice(0, 10)).toEqual(Array(10).fill('INVALID_CREDENTIALS'));
    expect(codes.slice(10)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
    const right = await login(server, id.username, id.password);
    expect(codeOf(right.body)).toBe('RATE_LIMITED');
    expect(right.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    const viaRest = await rest(server, 'POST', '/auth/login', { username: id.username, password: id.password });
    expect(viaRest.status).toBe(429);
    expect(Number(viaRest.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(viaRest.body).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
  });

  it('one request of aliased logins runs at most the allowed number of password checks', async () => {
    const id = newIdentity('alias');
    await register(server, id);
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      // 12 aliases (under the alias cap): mutations run one after another, the limiter counts each, and
      // `login` is non-null, so the first failure ends the request: far fewer checks than the limit.
      const twelve = `mutation { ${Array.from({ length: 12 }, (_, i) => `a${i}: login(input: { identifier: "${id.username}", password: "nope ${i}" }) { __typename }`).join(' ')} }`;
      const res = await gql(server, twelve);
      expect(compare.mock.calls.length).toBeGreaterThan(0);
      expect(compare.mock.calls.length).toBeLessThanOrEqual(10);
      expect(codeOf(res.body)).toBe('INVALID_CREDENTIALS');
      // Spend most of the rest; aliases then cannot buy more checks than remain: 10 in all, whatever the shape.
      for (let i = 0; i < 8; i++) await login(server, id.username, `spent ${i}`);
      const more = `mutation { ${Array.from({ length: 12 }, (_, i) => `c${i}: login(input: { identifier: "${id.username}", password: "${id.password}" }) { __typename }`).join(' ')} }`;
      expect(codeOf((await gql(server, more)).body)).toBe('RATE_LIMITED');
      expect(compare.mock.calls.length).toBe(10);
      // 50 aliases: refused whole by the alias rule, before any resolver runs.
      compare.mockClear();
      const fifty = `mutation { ${Array.from({ length: 50 }, (_, i) => `b${i}: login(input: { identifier: "x${i}", password: "nope" }) { __typename }`).join(' ')} }`;
      const refused = await gql(server, fifty);
      expect(codeOf(refused.body)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(compare).not.toHaveBeenCalled();
    } finally {
      compare.mockRestore();
    }
  });

  it('ignores a spoofed X-Forwarded-For without TRUST_PROXY, and honours it from a trusted proxy', async () => {
    const id = newIdentity('xff');
    await register(server, id);
    const spoofed = [];
    for (let i = 0; i < 11; i++) {
      spoofed.push(codeOf((await login(server, id.username, 'wrong', { 'x-forwarded-for': `203.0.113.${i}` })).body));
    }
    expect(spoofed.at(-1)).toBe('RATE_LIMITED');
    const sessions = await server.infra.prisma.session.findMany({ where: { user: { username: id.username } }, select: { ip: true } });
    expect(sessions.every((s) => s.ip === '127.0.0.1')).toBe(true);

    const id2 = newIdentity('xfft');
    await register(trusting, id2);
    const trusted = [];
    for (let i = 0; i < 11; i++) trusted.push(codeOf((await login(trusting, id2.username, 'wrong', { 'x-forwarded-for': `203.0.113.${i}` })).body));
    expect(trusted).toEqual(Array(11).fill('INVALID_CREDENTIALS')); // each client IP has its own count
    const ok = await login(trusting, id2.username, id2.password, { 'x-forwarded-for': '198.51.100.7' });
    expect(codeOf(ok.body)).toBeUndefined();
    const s = await trusting.infra.prisma.session.findMany({ where: { user: { username: id2.username } }, orderBy: { createdAt: 'desc' }, take: 1 });
    expect(s[0]?.ip).toBe('198.51.100.7');
  });

  it('limits sign-ups per IP (30 per 5 minutes)', async () => {
    const regPrefix = uniquePrefix('reg');
    const fresh = await startTestServer({ databaseUrl: db.url, redisPrefix: regPrefix, env: CONTRACT_LIMITS });
    try {
      const codes = [];
      for (let i = 0; i < 31; i++) codes.push(codeOf((await gql(fresh, 'mutation R($i: RegisterInput!) { register(input: $i) { tokenType } }', { i: newIdentity('burst') })).body) ?? 'OK');
      expect(codes.filter((c) => c === 'OK')).toHaveLength(30);
      expect(codes.at(-1)).toBe('RATE_LIMITED');
    } finally {
      await fresh.close();
      await clearRedisPrefix(regPrefix);
    }
  });

  it('keeps limiting logins with the memory fallback while Redis is down', async () => {
    const id = newIdentity('redisdown');
    await register(viaProxy, id);
    redisProxy.cut();
    try {
      const codes = [];
      for (let i = 0; i < 11; i++) codes.push(codeOf((await login(viaProxy, id.username, 'wrong ' + i)).body));
      expect(codes.at(-1)).toBe('RATE_LIMITED');
      expect(codes.slice(0, 10).every((c) => c === 'INVALID_CREDENTIALS')).toBe(true);
    } finally {
      redisProxy.restore();
    }
  });

  it('draws every root field, aliases included, from the general per-IP budget', async () => {
    const generalPrefix = uniquePrefix('general');
    const tight = await startTestServer({ databaseUrl: db.url, redisPrefix: generalPrefix, env: { RATE_LIMIT_GENERAL: '5/60' } });
    try {
      // Seven aliases against a budget of five: the request is refused, and the budget is spent.
      const res = await gql(tight, `{ ${Array.from({ length: 7 }, (_, i) => `h${i}: health { ready }`).join(' ')} }`);
      expect(codeOf(res.body)).toBe('RATE_LIMITED');
      expect(codeOf((await gql(tight, '{ health { ready } }')).body)).toBe('RATE_LIMITED');
      expect((await rest(tight, 'POST', '/auth/login', { username: 'x', password: 'y' })).status).toBe(429);
    } finally {
      await tight.close();
      await clearRedisPrefix(generalPrefix);
    }
  });
});

describe('account lockout', () => {
  let db: TestDatabase;
  let double: ResendDouble;
  let server: TestServer;
  const prefix = uniquePrefix('lockout');

  beforeAll(async () => {
    db = await createTestDatabase();
    double = await startResendDouble();
    server = await startMailServer({
      databaseUrl: db.url,
      redisPrefix: prefix,
      double,
      env: { LOCKOUT_THRESHOLD: '4', LOCKOUT_BASE_SECONDS: '120', LOCKOUT_MAX_FAILURES: '8' },
    });
  });
  afterAll(async () => {
    await server?.close();
    await double?.close();
    await clearRedisPrefix(prefix);
    await db?.drop();
  });

  const fail = (identifier: string, n: number, ipBase = 10) =>
    Promise.all(Array.from({ length: n }, (_, i) => login(server, identifier, 'wrong password', { 'x-forwarded-for': `10.0.0.${ipBase + i}` })));

  it('locks after the threshold from any IPs, even for the right password, with an event, an email and an unlock link', async () => {
    const id = newIdentity('locked');
    const t = await register(server, id);
    const sub = await subscribe(server.wsUrl, t.accessToken);
    try {
      await fail(id.username, 2);
      await fail(id.email, 2, 20); // username and email count as one account
      const locked = await login(server, id.username, id.password);
      expect(codeOf(locked.body)).toBe('ACCOUNT_LOCKED');
      expect(locked.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(60);
      const viaRest = await rest(server, 'POST', '/auth/login', { email: id.email, password: id.password });
      expect(viaRest.status).toBe(423);
      expect(viaRest.body).toMatchObject({ code: 'ACCOUNT_LOCKED' });

      await sub.next((e) => e.type === 'ACCOUNT_LOCKED', 2_000);
      const mail = await double.waitForDelivery((m) => sentTo(m, t.user.email) && /locked/i.test(m.subject), 10_000);
      const token = tokenIn(mail.text);
      expect(mail.text).toContain('/auth/unlock-account?token=');

      const unlocked = await rest(server, 'GET', `/auth/unlock-account?token=${encodeURIComponent(token)}`);
      expect(unlocked.status).toBe(200);
      expect(codeOf((await login(server, id.username, id.password)).body)).toBeUndefined();
      expect((await rest(server, 'GET', `/auth/unlock-account?token=${encodeURIComponent(token)}`)).body).toMatchObject({ code: 'INVALID_TOKEN' });
    } finally {
      sub.dispose();
    }
  });

  it('locks an unknown identifier the same way, so a lock reveals nothing', async () => {
    await fail('nobody_known_here', 4);
    const res = await login(server, 'nobody_known_here', 'anything at all');
    expect(codeOf(res.body)).toBe('ACCOUNT_LOCKED');
    expect(res.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(60);
  });

  it('a password reset unlocks the account', async () => {
    const id = newIdentity('resetunlock');
    const t = await register(server, id);
    await fail(id.username, 4);
    expect(codeOf((await login(server, id.username, id.password)).body)).toBe('ACCOUNT_LOCKED');
    await rest(server, 'POST', '/auth/reset-password/request', { email: id.email });
    const mail = await double.waitForDelivery((m) => sentTo(m, t.user.email) && /reset/i.test(m.subject), 10_000);
    expect((await rest(server, 'POST', '/auth/reset-password/confirm', { token: tokenIn(mail.text), newPassword: 'a fresh long passphrase' })).status).toBe(204);
    expect(codeOf((await login(server, id.username, 'a fresh long passphrase')).body)).toBeUndefined();
  });

  it('never allows more than the maximum failures in total: then only the unlock link or a reset opens it', async () => {
    const id = newIdentity('ceiling');
    await register(server, id);
    await fail(id.username, 4); // lock 1 (timed)
    await server.infra.redis.del(...(await server.infra.redis.keys(`${prefix}lockout:*:lock`)));
    await server.infra.prisma.user.updateMany({ where: { username: id.username }, data: { lockedUntil: null } });
    await fail(id.username, 4, 40); // total 8 = the ceiling
    const res = await login(server, id.username, id.password);
    expect(codeOf(res.body)).toBe('ACCOUNT_LOCKED');
    // Not a timed lock: no retry time is offered, only the emailed unlock link or a reset.
    expect(res.body.errors?.[0]?.extensions?.retryAfter).toBeUndefined();
  });
});
