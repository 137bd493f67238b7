import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createClient } from 'graphql-ws';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, codeOf, login, refresh, register, type Tokens } from '../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../test/harness.js';
import { ON_EVENT } from '../test/subscriber.js';
import { eventually } from '../test/tcp-proxy.js';
import { AccessTokens } from '../modules/sessions/access-token.js';
import type { Topics } from '../infra/pubsub.js';
import { TOO_MANY_SUBSCRIPTIONS, WS_CLOSE, WS_DEFAULTS } from './ws.js';

interface Message {
  id?: string;
  type: string;
  payload?: unknown;
}
type Errors = { extensions?: { code?: string; retryAfter?: number } }[];

/** A raw graphql-transport-ws client: every message it receives, its TCP socket, and how it closed. */
async function connect(url: string, authorization: string) {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const messages: Message[] = [];
  const waiters = new Set<() => void>();
  let tcp!: Socket;
  socket.once('upgrade', (res: IncomingMessage) => (tcp = res.socket));
  socket.on('message', (d) => {
    messages.push(JSON.parse(String(d)) as Message);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  socket.once('error', () => undefined);
  const client = {
    socket,
    messages,
    closed,
    get tcp() {
      return tcp;
    },
    send: (m: object) => socket.send(JSON.stringify(m)),
    /** How the socket closed, failing when it is still open after `timeoutMs`. */
    closedWithin(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
      let t: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs)));
      return Promise.race([closed, late]).finally(() => clearTimeout(t));
    },
    /** The first message (in arrival order) matching, waiting for it if need be. */
    next(match: (m: Message) => boolean, timeoutMs = 3_000): Promise<Message> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve(found);
        };
        const t = setTimeout(() => (waiters.delete(check), reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(messages).slice(0, 500)}`))), timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  client.send({ type: 'connection_init', payload: { authorization } });
  await Promise.race([client.next((m) => m.type === 'connection_ack'), closed]);
  return client;
}

const errorsOf = (m: Message) => m.payload as Errors;
const sessionOf = (accessToken: string) => decodeJwt(accessToken) as { sub: string; sid: string; exp: number };

/** An access token of the same user and session, signed with the server's key, expiring in about `seconds`. */
function shortLived(server: TestServer, accessToken: string, seconds: number): Promise<string> {
  const { sub, sid } = sessionOf(accessToken);
  const ttl = server.config.auth.accessTokenTtl;
  // The signer's clock runs `ttl - seconds` behind: the token it issues has only `seconds` left.
  const tokens = new AccessTokens(server.infra.keys, { issuer: server.config.http.publicUrl, ttlSeconds: ttl, now: () => Date.now() - (ttl - seconds) * 1000 });
  return tokens.sign(sub, sid);
}

const event = (userAgent: string | null = 'test'): Topics['securityEvent'] => ({
  id: crypto.randomUUID(),
  type: 'SIGNED_IN',
  occurredAt: new Date().toISOString(),
  sessionId: null,
  ip: '127.0.0.1',
  userAgent,
  readAt: null,
});

describe('WebSocket bounds', () => {
  const fx = useTestServers('wsl');
  let server: TestServer; // the usual generous limits
  let tight: TestServer; // same database, its own Redis prefix: a general budget of 6 messages a minute
  const open: { socket: WebSocket }[] = [];
  const track = <T extends { socket: WebSocket }>(c: T) => (open.push(c), c);

  beforeAll(async () => {
    server = await fx.start();
    tight = await fx.start({ namespace: 'tight', env: { RATE_LIMIT_GENERAL: '6/60' } });
  });
  afterAll(() => {
    for (const c of open) c.socket.terminate();
  });

  describe('subscriptions per socket', () => {
    let t: Tokens;
    beforeAll(async () => {
      t = await register(server);
    });

    it(`refuses a subscription past ${WS_DEFAULTS.maxSubscriptionsPerSocket} active ones with ${TOO_MANY_SUBSCRIPTIONS}, and delivers an event once per active one`, async () => {
      const c = track(await connect(server.wsUrl, `Bearer ${t.accessToken}`));
      const max = WS_DEFAULTS.maxSubscriptionsPerSocket;
      for (let i = 1; i <= max + 2; i++) c.send({ id: `s${i}`, type: 'subscribe', payload: { query: ON_EVENT } });
      for (const id of [`s${max + 1}`, `s${max + 2}`]) {
        const refused = await c.next((m) => m.id === id);
        expect(refused.type).toBe('error');
        expect(errorsOf(refused)[0]?.extensions?.code).toBe(TOO_MANY_SUBSCRIPTIONS);
      }
      expect(c.messages.filter((m) => m.type === 'error')).toHaveLength(2);

      // Completing one frees a place.
      c.send({ id: 's1', type: 'complete' });
      c.send({ id: 'again', type: 'subscribe', payload: { query: ON_EVENT } });
      // The server has taken both once an event reaches the new one; every active one gets it once.
      const e = event();
      await eventually(
        async () => (await server.infra.pubsub.publish('securityEvent', t.user.id, e), c.messages.some((m) => m.id === 'again')),
        (delivered) => delivered,
      );
      const marker = event();
      await server.infra.pubsub.publish('securityEvent', t.user.id, marker);
      const receivers = new Set(Array.from({ length: max }, (_, i) => (i === 0 ? 'again' : `s${i + 1}`)));
      await eventually(
        async () => c.messages.filter((m) => m.type === 'next' && JSON.stringify(m.payload).includes(marker.id)).map((m) => m.id),
        (ids) => ids.length >= max,
      );
      const deliveries = c.messages.filter((m) => m.type === 'next' && JSON.stringify(m.payload).includes(marker.id));
      expect(deliveries).toHaveLength(max);
      expect(new Set(deliveries.map((m) => m.id))).toEqual(receivers);
      expect(c.messages.filter((m) => m.type === 'error')).toHaveLength(2);
    });

    it('refuses subscribe requests past the per-socket rate with RATE_LIMITED and a retryAfter', async () => {
      const c = track(await connect(server.wsUrl, `Bearer ${t.accessToken}`));
      const { points } = WS_DEFAULTS.subscribeRate;
      for (let i = 1; i <= points + 1; i++) {
        c.send({ id: `r${i}`, type: 'subscribe', payload: { query: ON_EVENT } });
        c.send({ id: `r${i}`, type: 'complete' });
      }
      const refused = await c.next((m) => m.type === 'error');
      expect(refused.id).toBe(`r${points + 1}`);
      expect(errorsOf(refused)[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(errorsOf(refused)[0]?.extensions?.retryAfter).toBeGreaterThan(0);
      expect(c.socket.readyState).toBe(WebSocket.OPEN);
    });
  });

  it('closes a client that stops reading with 1013 once its send buffer passes the cap, without buffering more', async () => {
    const t = await register(server);
    // The server's side of the socket, to read its buffer: the first connection from here on is ours.
    const serverSide = new Promise<[WebSocket, IncomingMessage]>((resolve) => server.app.ws.wss.once('connection', (s: WebSocket, req: IncomingMessage) => resolve([s, req])));
    const c = track(await connect(server.wsUrl, `Bearer ${t.accessToken}`));
    const [remote, req] = await serverSide;
    expect(req.socket.remotePort).toBe(c.tcp.localPort);
    c.send({ id: 'slow', type: 'subscribe', payload: { query: 'subscription S { securityEvent { id userAgent } }' } });
    await eventually(
      async () => (await server.infra.pubsub.publish('securityEvent', t.user.id, event()), c.messages.some((m) => m.type === 'next')),
      (delivered) => delivered,
    );

    // The client stops reading; events keep coming, 32 KiB each.
    c.tcp.pause();
    const big = 'x'.repeat(32 * 1024);
    let published = 0;
    const cap = WS_DEFAULTS.maxBufferedBytes;
    const seen: number[] = [];
    while (published < 600 && remote.readyState === WebSocket.OPEN) {
      await server.infra.pubsub.publish('securityEvent', t.user.id, event(big));
      published++;
      seen.push(remote.bufferedAmount);
    }
    await eventually(async () => remote.readyState, (s) => s !== WebSocket.OPEN);
    // The decision: closing (close frame queued behind what is buffered), buffer never past the cap.
    expect(remote.readyState).toBe(WebSocket.CLOSING);
    expect(Math.max(...seen, remote.bufferedAmount)).toBeLessThanOrEqual(cap + 256);
    // Later events are dropped, not queued: neither in the socket's buffer nor ahead of it, in the
    // subscription's pub/sub iterator (which holds at most 1,024 and throws, uncaught, past that).
    const before = remote.bufferedAmount;
    for (let i = 0; i < 1_100; i++) await server.infra.pubsub.publish('securityEvent', t.user.id, event());
    expect(remote.bufferedAmount).toBeLessThanOrEqual(before);

    c.tcp.resume();
    expect((await c.closedWithin()).code).toBe(WS_CLOSE.tooSlow);
    expect(c.messages.filter((m) => m.type === 'next').length).toBeLessThan(published + 1_100);
  });

  describe('access token expiry', () => {
    it('closes a socket with 4401 when its access token expires', async () => {
      const t = await register(server);
      const short = await shortLived(server, t.accessToken, 2);
      const c = track(await connect(server.wsUrl, `Bearer ${short}`));
      expect(c.messages[0]?.type).toBe('connection_ack');
      expect((await c.closedWithin()).code).toBe(WS_CLOSE.unauthorized);
      expect(Date.now()).toBeGreaterThanOrEqual(sessionOf(short).exp * 1000);
    });

    it('keeps a socket re-authenticated (ping payload) with a newer token of the same session past the first token', async () => {
      const t = await register(server);
      const short = await shortLived(server, t.accessToken, 2);
      const expiring = track(await connect(server.wsUrl, `Bearer ${short}`)); // the witness that the first token expired
      const renewed = track(await connect(server.wsUrl, `Bearer ${short}`));
      expect(renewed.messages[0]?.type).toBe('connection_ack');

      const next = (await refresh(server, t.refreshToken)).body.data!.refresh; // same session, a new access token
      expect(sessionOf(next.accessToken).sid).toBe(sessionOf(short).sid);
      renewed.send({ type: 'ping', payload: { authorization: `Bearer ${next.accessToken}` } });
      const pong = await renewed.next((m) => m.type === 'pong');
      expect(pong.payload).toEqual({ accessTokenExpiresAt: new Date(sessionOf(next.accessToken).exp * 1000).toISOString() });

      expect((await expiring.closedWithin()).code).toBe(WS_CLOSE.unauthorized);
      // Past the first token's expiry the renewed socket still answers.
      renewed.send({ type: 'ping', payload: { n: 1 } });
      expect((await renewed.next((m) => m.type === 'pong' && JSON.stringify(m.payload) === '{"n":1}')).type).toBe('pong');
      expect(renewed.socket.readyState).toBe(WebSocket.OPEN);
    });

    it("re-authenticates through graphql-ws's own client as the README shows", async () => {
      const t = await register(server);
      let socket: WebSocket | undefined;
      const pongs: unknown[] = [];
      let connected!: () => void;
      const ready = new Promise<void>((r) => (connected = r));
      const client = createClient({
        url: server.wsUrl,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => undefined,
        connectionParams: async () => ({ authorization: `Bearer ${t.accessToken}` }),
        on: {
          connected: (s) => ((socket = s as WebSocket), connected()),
          pong: (received, payload) => void (received && pongs.push(payload)),
        },
      });
      try {
        await ready;
        const next = (await refresh(server, t.refreshToken)).body.data!.refresh;
        socket!.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${next.accessToken}` } }));
        const [payload] = await eventually(async () => pongs, (p) => p.length > 0, 3_000);
        expect(payload).toEqual({ accessTokenExpiresAt: new Date(sessionOf(next.accessToken).exp * 1000).toISOString() });
        expect(socket!.readyState).toBe(WebSocket.OPEN);
      } finally {
        await client.dispose();
      }
    });

    it.each([
      ['a token of another session of the same user', async (t: Tokens & { password: string }) => (await login(server, t.user.username, t.password)).body.data!.login.accessToken],
      ['a token of another user', async () => (await register(server)).accessToken],
      ['a garbage token', async () => 'not.a.jwt'],
      ['an expired token of the same session', async (t: Tokens) => shortLived(server, t.accessToken, -5)],
    ])('closes with 4401 on re-authentication with %s', async (_label, other) => {
      const t = await register(server);
      const c = track(await connect(server.wsUrl, `Bearer ${t.accessToken}`));
      c.send({ type: 'ping', payload: { authorization: `Bearer ${await other(t)}` } });
      expect((await c.closedWithin()).code).toBe(WS_CLOSE.unauthorized);
      expect(c.messages.some((m) => m.type === 'pong')).toBe(false);
    });

    it("does not let a revoked session's token extend its socket", async () => {
      const t = await register(server);
      const c = track(await connect(server.wsUrl, `Bearer ${t.accessToken}`));
      // Revoked in storage while this instance missed the broadcast that would have closed the socket.
      const { sid } = sessionOf(t.accessToken);
      await server.infra.prisma.session.update({ where: { id: sid }, data: { revokedAt: new Date(), revokeReason: 'revoked' } });
      await server.infra.redis.set(`${fx.prefix}session:${sid}`, 'revoked');
      c.send({ type: 'ping', payload: { authorization: `Bearer ${await shortLived(server, t.accessToken, 600)}` } });
      expect((await c.closedWithin()).code).toBe(WS_CLOSE.unauthorized);
    });
  });

  it('charges every inbound message to the per-IP general budget and closes past it with 4008', async () => {
    const t = await register(server); // on the generous instance: the tight one's budget is all the test's
    const c = track(await connect(tight.wsUrl, `Bearer ${t.accessToken}`)); // connection_init: 1
    expect(c.messages[0]?.type).toBe('connection_ack');
    for (let i = 0; i < 3; i++) c.send({ id: `none${i}`, type: 'complete' }); // 3
    for (let i = 0; i < 2; i++) c.send({ type: 'pong' }); // 2: the budget of 6 is spent
    c.send({ type: 'ping', payload: { n: 1 } }); // refused
    const close = await c.closedWithin();
    expect(close.code).toBe(WS_CLOSE.rateLimited);
    expect(c.messages.some((m) => m.type === 'pong')).toBe(false);
    // The same budget as the HTTP door's.
    expect(codeOf((await gql(tight, 'query { me { id } }', undefined, bearer(t.accessToken))).body)).toBe('RATE_LIMITED');
  });
});
