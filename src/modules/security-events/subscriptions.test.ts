import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, codeOf, login, newIdentity, register } from '../../test/auth-client.js';
import { gql, useTestServers, type ProxiedLink, type TestServer } from '../../test/harness.js';
import { subscribe } from '../../test/subscriber.js';
import { eventually } from '../../test/tcp-proxy.js';
import { WS_CLOSE } from '../../graphql/ws.js';

const SESSIONS = 'query { sessions { id current } }';

describe('securityEvent subscription', () => {
  const fx = useTestServers('subs');
  let a: TestServer; // two instances sharing PostgreSQL and Redis
  let b: TestServer;
  let redisProxy: ProxiedLink;
  let c: TestServer; // publishes through a Redis link the test can cut
  const opened: { dispose(): void }[] = [];

  beforeAll(async () => {
    a = await fx.start();
    b = await fx.start();
    redisProxy = await fx.redisProxy();
    c = await fx.start({ env: { REDIS_URL: redisProxy.url } });
  });
  afterAll(() => {
    for (const s of opened) s.dispose();
  });

  const watch = async (server: TestServer, token: string) => {
    const s = await subscribe(server.wsUrl, token);
    opened.push(s);
    return s;
  };

  it('delivers SIGNED_IN within a second of a login elsewhere, with the new session, IP and user agent', async () => {
    const id = newIdentity('signin');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    const loginAt = Date.now();
    const other = (await login(a, id.email, id.password, { 'user-agent': 'phone-browser/1.0' })).body.data!.login;
    const event = await sub.next((e) => e.type === 'SIGNED_IN', 1_000);
    expect(event.receivedAt - loginAt).toBeLessThan(1_000);
    const sessions = (await gql<{ sessions: { id: string; current: boolean }[] }>(a, SESSIONS, undefined, bearer(other.accessToken))).body.data!.sessions;
    expect(event.sessionId).toBe(sessions.find((s) => s.current)!.id);
    expect(event).toMatchObject({ ip: '127.0.0.1', userAgent: 'phone-browser/1.0', readAt: null });
  });

  it("never delivers another user's events", async () => {
    const mine = await register(a);
    const sub = await watch(a, mine.accessToken);
    const theirs = newIdentity('other');
    await register(a, theirs);
    await login(a, theirs.username, theirs.password);
    await gql(a, 'mutation { logout(allSessions: true) }', undefined, bearer((await login(a, theirs.username, theirs.password)).body.data!.login.accessToken));
    // A marker event of our own proves the pipe is flowing; nothing of theirs came before it.
    await gql(a, 'mutation { revokeOtherSessions }', undefined, bearer(mine.accessToken));
    const pw = newIdentity('x').password;
    await gql(a, 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }', { i: { currentPassword: mine.password, newPassword: pw } }, bearer(mine.accessToken));
    await sub.next((e) => e.type === 'PASSWORD_CHANGED');
    const ownSessions = await a.infra.prisma.session.findMany({ where: { userId: mine.user.id }, select: { id: true } });
    for (const e of sub.events) expect(ownSessions.map((s) => s.id)).toContain(e.sessionId);
  });

  it('reaches a subscriber on instance A when the event happens on instance B', async () => {
    const id = newIdentity('cross');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    const res = await login(b, id.username, id.password);
    expect(res.body.errors).toBeUndefined();
    const event = await sub.next((e) => e.type === 'SIGNED_IN', 1_000);
    expect(event.sessionId).toBeTruthy();
  });

  it('closes the socket of a revoked session within a second, on every instance', async () => {
    const id = newIdentity('revoke');
    const t = await register(a, id);
    const onA = await watch(a, t.accessToken);
    const onB = await watch(b, t.accessToken);
    const other = (await login(a, id.username, id.password)).body.data!.login;
    const mySession = (await gql<{ sessions: { id: string; current: boolean }[] }>(a, SESSIONS, undefined, bearer(t.accessToken))).body.data!.sessions.find((s) => s.current)!.id;
    const revokedAt = Date.now();
    await gql(b, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: mySession }, bearer(other.accessToken));
    const [closeA, closeB] = await Promise.all([onA.closedWith(1_000), onB.closedWith(1_000)]);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(closeA.code).toBe(WS_CLOSE.unauthorized);
    expect(closeB.code).toBe(WS_CLOSE.unauthorized);
  });

  it('closes the socket on logout and on refresh-token reuse', async () => {
    const t = await register(a);
    const sub = await watch(b, t.accessToken);
    await gql(a, 'mutation { logout }', undefined, bearer(t.accessToken));
    expect((await sub.closedWith(1_000)).code).toBe(WS_CLOSE.unauthorized);

    const u = await register(a);
    const next = (await gql<{ refresh: { accessToken: string } }>(a, 'mutation R($t: String!) { refresh(refreshToken: $t) { accessToken } }', { t: u.refreshToken })).body.data!.refresh;
    const watcher = await watch(a, next.accessToken);
    expect(codeOf((await gql(b, 'mutation R($t: String!) { refresh(refreshToken: $t) { accessToken } }', { t: u.refreshToken })).body)).toBe('REFRESH_TOKEN_REUSED');
    expect((await watcher.closedWith(1_000)).code).toBe(WS_CLOSE.unauthorized);
  });

  it("closes the socket when its session's lifetime runs out", async () => {
    const t = await register(a);
    const session = await a.infra.prisma.session.findFirstOrThrow({ where: { userId: t.user.id } });
    await a.infra.prisma.session.update({ where: { id: session.id }, data: { idleExpiresAt: new Date(Date.now() + 1_500) } });
    await a.infra.redis.del(`${fx.prefix}session:${session.id}`); // drop the cached lifetime so the socket sees the new one
    const sub = await watch(a, t.accessToken);
    const close = await sub.closedWith(4_000);
    expect(close.code).toBe(WS_CLOSE.unauthorized);
  });

  it('retries a publish that failed while Redis was down, from the stored event', async () => {
    const id = newIdentity('retry');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    // Only instance C may publish now (any instance would otherwise pick the row up at once).
    await a.services.publisher.stop();
    await b.services.publisher.stop();
    redisProxy.cut();
    try {
      await login(c, id.username, id.password); // the login commits; instance C cannot publish for now
      const stored = await eventually(
        () => c.infra.prisma.securityEvent.findMany({ where: { userId: t.user.id, type: 'SIGNED_IN' } }),
        (rows) => rows.length === 2,
      );
      expect(stored.some((r) => r.publishedAt === null)).toBe(true);
    } finally {
      redisProxy.restore();
    }
    // C's sweep retries the stored row once Redis is back; the subscriber on A receives it.
    const event = await sub.next((e) => e.type === 'SIGNED_IN', 5_000);
    expect(event.id).toBeTruthy();
    await a.services.publisher.start();
    await b.services.publisher.start();
  });

  describe('securityEvents and markSecurityEventsRead', () => {
    const PAGE = 'query P($first: Int, $after: String) { securityEvents(first: $first, after: $after) { edges { cursor node { id type readAt } } pageInfo { hasNextPage endCursor } } }';

    it('pages through 50 events with first: 20, each exactly once, newest first', async () => {
      const t = await register(a);
      const rows = Array.from({ length: 49 }, (_, i) => ({ userId: t.user.id, type: 'SIGNED_IN' as const, occurredAt: new Date(Date.now() - (i + 1) * 1000), publishedAt: new Date() }));
      // Two events share a timestamp, to prove the id breaks ties.
      rows[10]!.occurredAt = rows[11]!.occurredAt;
      await a.infra.prisma.securityEvent.createMany({ data: rows });
      const seen: string[] = [];
      let after: string | null = null;
      type Page = { securityEvents: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
      const sizes: number[] = [];
      for (;;) {
        const res: { body: { data?: Page } } = await gql<Page>(a, PAGE, { first: 20, after }, bearer(t.accessToken));
        const page: Page['securityEvents'] = res.body.data!.securityEvents;
        sizes.push(page.edges.length);
        seen.push(...page.edges.map((e) => e.node.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(sizes).toEqual([20, 20, 10]);
      expect(new Set(seen).size).toBe(50);
      const all = await a.infra.prisma.securityEvent.findMany({ where: { userId: t.user.id }, orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }] });
      expect(seen).toEqual(all.map((e) => e.id));
    });

    it('refuses a forged cursor and out-of-range sizes', async () => {
      const t = await register(a);
      expect(codeOf((await gql(a, PAGE, { first: 20, after: 'bm9wZQ' }, bearer(t.accessToken))).body)).toBe('BAD_USER_INPUT');
      expect(codeOf((await gql(a, PAGE, { first: 0 }, bearer(t.accessToken))).body)).toBe('BAD_USER_INPUT');
      expect(codeOf((await gql(a, PAGE, { first: 101 }, bearer(t.accessToken))).body)).toBe('BAD_USER_INPUT');
      expect(codeOf((await gql(a, PAGE, { first: 5 })).body)).toBe('UNAUTHENTICATED');
    });

    it("marks only the caller's own events read and counts them", async () => {
      const me = await register(a);
      const other = await register(a);
      const mine = await a.infra.prisma.securityEvent.findMany({ where: { userId: me.user.id }, select: { id: true } });
      const theirs = await a.infra.prisma.securityEvent.findMany({ where: { userId: other.user.id }, select: { id: true } });
      const MARK = 'mutation M($ids: [ID!]!) { markSecurityEventsRead(ids: $ids) }';
      const res = await gql(a, MARK, { ids: [...mine.map((e) => e.id), ...theirs.map((e) => e.id)] }, bearer(me.accessToken));
      expect(res.body.data).toEqual({ markSecurityEventsRead: mine.length });
      expect((await gql(a, MARK, { ids: mine.map((e) => e.id) }, bearer(me.accessToken))).body.data).toEqual({ markSecurityEventsRead: 0 });
      expect(await a.infra.prisma.securityEvent.count({ where: { userId: other.user.id, readAt: { not: null } } })).toBe(0);
      expect(codeOf((await gql(a, MARK, { ids: ['not-a-uuid'] }, bearer(me.accessToken))).body)).toBe('BAD_USER_INPUT');
    });
  });
});
