import bcrypt from 'bcrypt';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, login, newIdentity, register, rest } from '../../test/auth-client.js';
import { DEFAULT_LIMITS, gql, useTestServer, useTestServers, type ProxiedLink, type TestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';
import { subscribe } from '../../test/subscriber.js';

describe('rate limits (contract defaults)', () => {
  const fx = useTestServers('abuse');
  let server: TestServer;
  let trusting: TestServer; // TRUST_PROXY names the loopback proxy
  let redisProxy: ProxiedLink;
  let viaProxy: TestServer;

  beforeAll(async () => {
    server = await fx.start({ env: DEFAULT_LIMITS });
    trusting = await fx.start({ env: { ...DEFAULT_LIMITS, TRUST_PROXY: '127.0.0.1' } });
    redisProxy = await fx.redisProxy();
    viaProxy = await fx.start({ env: { ...DEFAULT_LIMITS, REDIS_URL: redisProxy.url } });
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

  it('counts the login limits in order: an attempt the per-identifier limit refuses does not use the per-IP budget', async () => {
    const limited = await fx.start({ namespace: 'order', env: { ...DEFAULT_LIMITS, RATE_LIMIT_LOGIN: '2/60', RATE_LIMIT_LOGIN_IP: '4/60' } });
    const tag = randomBytes(3).toString('hex');
    const codesFor = async (identifier: string, n: number) => {
      const codes = [];
      for (let i = 0; i < n; i++) codes.push(codeOf((await login(limited, identifier, 'wrong password')).body));
      return codes;
    };
    // Per identifier: two, then refused by that limit (the per-IP count stays at two).
    expect(await codesFor(`first_${tag}`, 3)).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
    // Another identifier from the same IP: the two attempts left of the per-IP four, then refused by it.
    expect(await codesFor(`second_${tag}`, 3)).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
  });

  it('normalises the identifier one way for the lookup and the limit: no look-alike signs in or buys more guesses', async () => {
    const tag = randomBytes(3).toString('hex');
    const id = { ...newIdentity(), username: `iris${tag}`, email: `strasse.${tag}@example.com` };
    await register(server, id);
    const fullwidth = (s: string) => [...s].map((c) => (/[a-z0-9]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('');
    // Non-ASCII identifiers can never be registered: refused, never looked up (PostgreSQL folds İ to i).
    for (const lookAlike of [`İris${tag}`, `ıris${tag}`, `straße.${tag}@example.com`]) {
      const res = await login(server, lookAlike, id.password);
      expect(codeOf(res.body), lookAlike).toBe('BAD_USER_INPUT');
    }
    // Compatibility forms (NFKC) are the same identifier: they sign in, and share its budget (10, this sign-in included).
    expect(codeOf((await login(server, fullwidth(id.username), id.password)).body)).toBeUndefined();
    const codes = [];
    for (let i = 0; i < 9; i++) codes.push(codeOf((await login(server, i % 2 ? id.username.toUpperCase() : fullwidth(id.username), 'wrong ' + i)).body));
    expect(codes).toEqual(Array(9).fill('INVALID_CREDENTIALS'));
    for (const variant of [id.username, fullwidth(id.username.toUpperCase()), ` ${id.username}\u3000`]) {
      expect(codeOf((await login(server, variant, id.password)).body), variant).toBe('RATE_LIMITED');
    }
    // And a look-alike gets no password check at all, so no budget of its own against the account.
    expect(['BAD_USER_INPUT', 'RATE_LIMITED']).toContain(codeOf((await login(server, `İris${tag}`, id.password)).body));
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
    const fresh = await fx.start({ namespace: 'reg', env: DEFAULT_LIMITS });
    const codes = [];
    for (let i = 0; i < 31; i++) codes.push(codeOf((await gql(fresh, 'mutation R($i: RegisterInput!) { register(input: $i) { tokenType } }', { i: newIdentity('burst') })).body) ?? 'OK');
    expect(codes.filter((c) => c === 'OK')).toHaveLength(30);
    expect(codes.at(-1)).toBe('RATE_LIMITED');
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
    const tight = await fx.start({ namespace: 'general', env: { RATE_LIMIT_GENERAL: '5/60' } });
    // Seven aliases against a budget of five: the request is refused, and the budget is spent.
    const res = await gql(tight, `{ ${Array.from({ length: 7 }, (_, i) => `h${i}: health { ready }`).join(' ')} }`);
    expect(codeOf(res.body)).toBe('RATE_LIMITED');
    expect(codeOf((await gql(tight, '{ health { ready } }')).body)).toBe('RATE_LIMITED');
    expect((await rest(tight, 'POST', '/auth/login', { username: 'x', password: 'y' })).status).toBe(429);
  });
});

describe('account lockout', () => {
  const fx = useTestServer('lockout', { mail: true, env: { LOCKOUT_THRESHOLD: '4', LOCKOUT_BASE_SECONDS: '120', LOCKOUT_MAX_FAILURES: '8' } });

  const fail = (identifier: string, n: number, ipBase = 10) =>
    Promise.all(Array.from({ length: n }, (_, i) => login(fx.server, identifier, 'wrong password', { 'x-forwarded-for': `10.0.0.${ipBase + i}` })));

  it('locks after the threshold from any IPs, even for the right password, with an event, an email and an unlock link', async () => {
    const id = newIdentity('locked');
    const t = await register(fx.server, id);
    const sub = await subscribe(fx.server.wsUrl, t.accessToken);
    try {
      await fail(id.username, 2);
      await fail(id.email, 2, 20); // username and email count as one account
      const locked = await login(fx.server, id.username, id.password);
      expect(codeOf(locked.body)).toBe('ACCOUNT_LOCKED');
      expect(locked.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(60);
      const viaRest = await rest(fx.server, 'POST', '/auth/login', { email: id.email, password: id.password });
      expect(viaRest.status).toBe(423);
      expect(viaRest.body).toMatchObject({ code: 'ACCOUNT_LOCKED' });

      await sub.next((e) => e.type === 'ACCOUNT_LOCKED', 2_000);
      const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /locked/i.test(m.subject), 10_000);
      const token = tokenIn(mail.text);
      expect(mail.text).toContain('/auth/unlock-account?token=');

      // The link's GET only describes; the unlock is a POST of its token.
      const unlocked = await rest(fx.server, 'POST', '/auth/unlock-account', { token });
      expect(unlocked.status).toBe(200);
      expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBeUndefined();
      expect((await rest(fx.server, 'GET', `/auth/unlock-account?token=${encodeURIComponent(token)}`)).body).toMatchObject({ code: 'INVALID_TOKEN' });
    } finally {
      sub.dispose();
    }
  });

  it('locks an unknown identifier the same way, so a lock reveals nothing', async () => {
    await fail('nobody_known_here', 4);
    const res = await login(fx.server, 'nobody_known_here', 'anything at all');
    expect(codeOf(res.body)).toBe('ACCOUNT_LOCKED');
    expect(res.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(60);
  });

  it('a password reset unlocks the account', async () => {
    const id = newIdentity('resetunlock');
    const t = await register(fx.server, id);
    await fail(id.username, 4);
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('ACCOUNT_LOCKED');
    await rest(fx.server, 'POST', '/auth/reset-password/request', { email: id.email });
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /reset/i.test(m.subject), 10_000);
    expect((await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token: tokenIn(mail.text), newPassword: 'a fresh long passphrase' })).status).toBe(204);
    expect(codeOf((await login(fx.server, id.username, 'a fresh long passphrase')).body)).toBeUndefined();
  });

  it('never allows more than the maximum failures in total: then only the unlock link or a reset opens it', async () => {
    const id = newIdentity('ceiling');
    await register(fx.server, id);
    await fail(id.username, 4); // lock 1 (timed)
    await fx.server.infra.redis.del(...(await fx.server.infra.redis.keys(`${fx.prefix}lockout:*:lock`)));
    await fx.server.infra.prisma.user.updateMany({ where: { username: id.username }, data: { lockedUntil: null } });
    await fail(id.username, 4, 40); // total 8 = the ceiling
    const res = await login(fx.server, id.username, id.password);
    expect(codeOf(res.body)).toBe('ACCOUNT_LOCKED');
    // Not a timed lock: no retry time is offered, only the emailed unlock link or a reset.
    expect(res.body.errors?.[0]?.extensions?.retryAfter).toBeUndefined();
  });
});

describe('source-aware lockout (known devices, unknown sources, unlock)', () => {
  // The threshold equals the ceiling: the first lock is the permanent stage, with nothing timed to wait out.
  const fx = useTestServer('srclock', {
    mail: true,
    env: { TRUST_PROXY: '127.0.0.1', LOCKOUT_THRESHOLD: '4', LOCKOUT_BASE_SECONDS: '120', LOCKOUT_MAX_FAILURES: '4' },
  });
  // The owner's device: the address and client of a session of the account (made at sign-up below).
  const OWNER = { 'x-forwarded-for': '198.51.100.77' };
  let n = 0;
  /** A fresh unknown address for every attempt: an attacker spread over many IPs. */
  const stranger = () => ({ 'x-forwarded-for': `10.${20 + Math.floor(n / 250)}.${n % 250}.${(n++ % 200) + 1}` });
  /** Code of one attempt, and whether a retry time came with it (a timed lock). */
  const attempt = async (identifier: string, password: string, headers: Record<string, string> = stranger()) => {
    const res = await login(fx.server, identifier, password, headers);
    const ext = res.body.errors?.[0]?.extensions;
    return `${codeOf(res.body) ?? res.body.data?.login.__typename}${ext?.retryAfter === undefined ? '' : '+retry'}`;
  };
  const attempts = async (identifier: string, count: number, headers?: () => Record<string, string>) => {
    const out = [];
    for (let i = 0; i < count; i++) out.push(await attempt(identifier, `wrong password ${i}`, headers?.()));
    return out;
  };
  const lockMail = (email: string, not: string[] = []) =>
    fx.mail.waitForDelivery((m) => sentTo(m, email) && /locked/i.test(m.subject) && !not.includes(m.id), 10_000);

  it('a lock caused from unknown sources never blocks the owner on a known device, whose own failures still count', async () => {
    const id = newIdentity('known');
    await register(fx.server, id, OWNER);
    expect(await attempts(id.username, 6)).toEqual([...Array(4).fill('INVALID_CREDENTIALS'), 'ACCOUNT_LOCKED', 'ACCOUNT_LOCKED']);
    // The permanent stage holds for any unknown source, even with the right password ...
    expect(await attempt(id.username, id.password)).toBe('ACCOUNT_LOCKED');
    expect(await attempt(id.email, id.password)).not.toBe('AuthPayload');
    // ... but the owner's device signs in, by username or email.
    expect(await attempt(id.username, id.password, OWNER)).toBe('AuthPayload');
    expect(await attempt(id.email, id.password, OWNER)).toBe('AuthPayload');
    // Its own failures have their own count: it locks (itself only) after the threshold.
    expect(await attempts(id.username, 4, () => OWNER)).toEqual(Array(4).fill('INVALID_CREDENTIALS'));
    expect(await attempt(id.username, id.password, OWNER)).toBe('ACCOUNT_LOCKED');
    // A second known device of the owner is not held by the first one's lock.
    const other = { 'x-forwarded-for': '198.51.100.78' };
    await fx.server.infra.prisma.session.create({
      data: { user: { connect: { username: id.username } }, ip: other['x-forwarded-for'], userAgent: 'node', expiresAt: new Date(Date.now() + 3_600_000), idleExpiresAt: new Date(Date.now() + 3_600_000) },
    });
    expect(await attempt(id.username, id.password, other)).toBe('AuthPayload');
  });

  it("a username's lock says nothing about its email: it answers like an unrelated unknown email, and a known username like an unknown one", async () => {
    const id = newIdentity('linked');
    await register(fx.server, id, OWNER);
    const nobody = newIdentity('nobody');
    // A known username and a username no one has locked in the same steps.
    expect(await attempts(id.username, 6)).toEqual(await attempts(nobody.username, 6));
    // The account's email, even with the right password, answers step for step as an unknown email.
    const viaEmail = [await attempt(id.email, id.password), ...(await attempts(id.email, 5))];
    const unknownEmail = await attempts(nobody.email, 6);
    expect(viaEmail).toEqual(unknownEmail);
    expect(viaEmail).toEqual([...Array(4).fill('INVALID_CREDENTIALS'), 'ACCOUNT_LOCKED', 'ACCOUNT_LOCKED']);
  });

  it('the unlock link: GET only describes (twice, in JSON or a page with a form), POST unlocks, and the lifetime count stays', async () => {
    const id = newIdentity('unlock');
    const t = await register(fx.server, id, OWNER);
    await attempts(id.username, 4);
    expect(await attempt(id.username, id.password)).toBe('ACCOUNT_LOCKED');
    const first = await lockMail(t.user.email);
    const token = tokenIn(first.text);
    const link = `/auth/unlock-account?token=${encodeURIComponent(token)}`;

    // A mail scanner following the link changes nothing.
    const described = await rest(fx.server, 'GET', link);
    expect(described.status).toBe(200);
    expect(described.body).toMatchObject({ valid: true, method: 'POST' });
    const page = await fetch(`${fx.server.url}${link}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("form-action 'self'");
    const html = await page.text();
    expect(html).toMatch(/<form[^>]+method="post"/i);
    expect(html).toContain(`value="${token}"`);
    expect(await attempt(id.username, id.password)).toBe('ACCOUNT_LOCKED');
    expect((await rest(fx.server, 'GET', '/auth/unlock-account?token=not-a-token')).body).toMatchObject({ code: 'INVALID_TOKEN' });

    const unlocked = await rest(fx.server, 'POST', '/auth/unlock-account', { token });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body).toMatchObject({ unlocked: true });
    expect((await rest(fx.server, 'POST', '/auth/unlock-account', { token })).body).toMatchObject({ code: 'INVALID_TOKEN' });
    expect((await rest(fx.server, 'GET', link)).body).toMatchObject({ code: 'INVALID_TOKEN' });
    expect((await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } })).lockedUntil).toBeNull();

    // The unlock lifted the lock, not the count: the next failure from an unknown source locks again.
    expect(await attempt(id.username, 'one more wrong guess')).toBe('INVALID_CREDENTIALS');
    expect(await attempt(id.username, id.password)).toBe('ACCOUNT_LOCKED');

    // The form on the page posts the token (a browser): the answer is a page, and the account opens.
    const second = await lockMail(t.user.email, [first.id]);
    const form = await fetch(`${fx.server.url}/auth/unlock-account`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ token: tokenIn(second.text) }).toString(),
    });
    expect(form.status).toBe(200);
    expect(form.headers.get('content-type')).toMatch(/^text\/html/);
    // That route alone takes a form body: sign-in stays JSON only.
    const formLogin = await fetch(`${fx.server.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: id.username, password: id.password }).toString(),
    });
    expect(formLogin.status).toBe(415);
    // The owner signing in resets the count (NIST counts consecutive failures): one failure no longer locks.
    expect(await attempt(id.username, id.password)).toBe('AuthPayload');
    expect(await attempt(id.username, 'a wrong guess again')).toBe('INVALID_CREDENTIALS');
    expect(await attempt(id.username, id.password)).toBe('AuthPayload');
  });

  it('a password reset lifts every lock and starts every count over (they were guesses at the old password)', async () => {
    const id = newIdentity('resetall');
    const t = await register(fx.server, id, OWNER);
    await attempts(id.username, 4);
    await attempts(id.email, 4);
    await attempts(id.username, 4, () => OWNER);
    await rest(fx.server, 'POST', '/auth/reset-password/request', { email: id.email });
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /reset/i.test(m.subject), 10_000);
    const fresh = 'a fresh long passphrase';
    expect((await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token: tokenIn(mail.text), newPassword: fresh })).status).toBe(204);
    expect(await attempts(id.username, 1)).toEqual(['INVALID_CREDENTIALS']);
    expect(await attempt(id.username, fresh)).toBe('AuthPayload');
    expect(await attempt(id.email, fresh)).toBe('AuthPayload');
    expect(await attempt(id.username, fresh, OWNER)).toBe('AuthPayload');
  });

  it('unlockAccount (GraphQL) is the same POST: it unlocks once, keeping the count', async () => {
    const id = newIdentity('gqlunlock');
    const t = await register(fx.server, id, OWNER);
    await attempts(id.email, 4);
    const token = tokenIn((await lockMail(t.user.email)).text);
    const UNLOCK = 'mutation U($token: String!) { unlockAccount(token: $token) }';
    expect((await gql(fx.server, UNLOCK, { token })).body.data).toEqual({ unlockAccount: true });
    expect(codeOf((await gql(fx.server, UNLOCK, { token })).body)).toBe('INVALID_TOKEN');
    expect(await attempt(id.email, 'still guessing')).toBe('INVALID_CREDENTIALS');
    expect(await attempt(id.email, id.password)).toBe('ACCOUNT_LOCKED');
  });
});
