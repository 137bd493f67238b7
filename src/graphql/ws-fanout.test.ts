import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createClient, type Client, type Message } from 'graphql-ws';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, login, newIdentity, register } from '../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../test/harness.js';
import { ON_EVENT } from '../test/subscriber.js';
import { eventually } from '../test/tcp-proxy.js';
import type { Topics } from '../infra/pubsub.js';
import { WS_CLOSE, WS_DEFAULTS } from './ws.js';

interface Watch {
  /** The subscription id this client sends (graphql-ws's `generateID`). */
  id: string;
  query: string;
  variables?: Record<string, unknown>;
}
type Next = { id: string; data: Record<string, Record<string, unknown>> };

const PROBE = 'probe';

const event = (userAgent: string | null = 'test'): Topics['securityEvent'] => ({
  id: crypto.randomUUID(),
  type: 'SIGNED_IN',
  occurredAt: new Date().toISOString(),
  sessionId: null,
  ip: '192.0.2.7',
  userAgent,
  readAt: null,
});

const eventOf = (n: Next) => n.data.securityEvent!;
const sessionOf = (accessToken: string) => (decodeJwt(accessToken) as { sid: string }).sid;

describe('subscription fan-out: one execution per event per session and operation, every socket framed with its own id', () => {
  const fx = useTestServers('fanout');
  let a: TestServer;
  let b: TestServer; // a second instance: events happening there reach sockets on `a`
  const clients: Client[] = [];
  /** The server's side of each socket on `a`, by the client's port. */
  const serverSides = new Map<number, WebSocket>();

  beforeAll(async () => {
    a = await fx.start();
    b = await fx.start();
    a.app.ws.wss.on('connection', (s: WebSocket, req: IncomingMessage) => serverSides.set(req.socket.remotePort!, s));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
  });

  /**
   * A graphql-ws client with the given subscriptions (ids chosen here), recording every `next` frame as it
   * arrived (its own `id` and the payload) and how the socket closed. `tcp`: the client's side of the TCP
   * connection, to stop reading.
   */
  async function open(server: TestServer, accessToken: string, watches: Watch[]) {
    const frames: Next[] = [];
    let closed: { code: number } | undefined;
    let tcp: Socket | undefined;
    let acked!: () => void;
    const ready = new Promise<void>((r) => (acked = r));
    const ids = watches.map((w) => w.id);
    class Tapped extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        this.once('upgrade', (res: IncomingMessage) => (tcp = res.socket));
      }
    }
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: Tapped,
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
      connectionParams: { authorization: `Bearer ${accessToken}` },
      generateID: () => ids.shift()!,
      on: {
        connected: () => acked(),
        message: (m: Message) => {
          if (m.type === 'next') frames.push({ id: m.id, data: m.payload.data as Next['data'] });
        },
        closed: (e) => (closed = { code: (e as { code: number }).code }),
      },
    });
    clients.push(client);
    const stops = new Map<string, () => void>();
    for (const w of watches) {
      stops.set(w.id, client.subscribe({ query: w.query, variables: w.variables }, { next: () => undefined, error: () => undefined, complete: () => undefined }));
    }
    await ready;
    return {
      frames,
      get closed() {
        return closed;
      },
      get tcp() {
        return tcp!;
      },
      /** The events (probes left out) each subscription of this socket received, by subscription id. */
      events(id: string) {
        return frames.filter((f) => f.id === id && eventOf(f).userAgent !== PROBE).map(eventOf);
      },
      unsubscribe: (id: string) => stops.get(id)!(),
      dispose: () => client.dispose(),
    };
  }
  type Opened = Awaited<ReturnType<typeof open>>;

  /** Publishes probe events to `userId` until every listed subscription got one: the server has taken them all. */
  async function settled(userId: string, subs: [Opened, string][]) {
    await eventually(
      async () => (await a.infra.pubsub.publish('securityEvent', userId, event(PROBE)), subs.every(([c, id]) => c.frames.some((f) => f.id === id))),
      (all) => all,
    );
  }

  it("delivers every event exactly once to each subscription of a user's sockets, each frame with that subscription's own id", async () => {
    const id = newIdentity('many');
    const t = await register(a, id);
    const other = (await login(a, id.username, id.password)).body.data!.login; // a second session of the same user
    const groupsBefore = a.app.ws.deliveryGroups;
    const sockets = await Promise.all([
      open(a, t.accessToken, [{ id: 's1-a', query: ON_EVENT }]),
      open(a, t.accessToken, [{ id: 's2-a', query: ON_EVENT }]),
      open(a, t.accessToken, [{ id: 's3-a', query: ON_EVENT }, { id: 's3-b', query: ON_EVENT }]),
      open(a, other.accessToken, [{ id: 'other-session', query: ON_EVENT }]),
    ]);
    const subs: [Opened, string][] = [
      [sockets[0]!, 's1-a'],
      [sockets[1]!, 's2-a'],
      [sockets[2]!, 's3-a'],
      [sockets[2]!, 's3-b'],
      [sockets[3]!, 'other-session'],
    ];
    await settled(t.user.id, subs);
    // One group per session running the operation: the four subscriptions of the first session share one.
    expect(a.app.ws.deliveryGroups - groupsBefore).toBe(2);

    const published = Array.from({ length: 25 }, () => event());
    for (const e of published) await a.infra.pubsub.publish('securityEvent', t.user.id, e);
    // And an event that happens for real, on the other instance.
    await login(b, id.username, id.password, { 'user-agent': 'fan-out/1.0' });

    const expected = [...published.map((e) => e.id), 'SIGNED_IN fan-out/1.0'];
    const seen = (c: Opened, subId: string) => c.events(subId).flatMap((e) => (e.userAgent === 'test' ? [e.id] : e.userAgent === 'fan-out/1.0' ? [`${e.type} ${e.userAgent}`] : []));
    for (const [c, subId] of subs) await eventually(async () => seen(c, subId), (got) => got.length >= expected.length);
    await new Promise((r) => setTimeout(r, 200)); // nothing more, no duplicate, comes later
    for (const [c, subId] of subs) {
      expect(seen(c, subId)).toEqual(expected);
      const all = c.events(subId);
      expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    }
    // No socket got a frame for an id that is not its own.
    expect(sockets[0]!.frames.every((f) => f.id === 's1-a')).toBe(true);
    expect(sockets[1]!.frames.every((f) => f.id === 's2-a')).toBe(true);
    expect(sockets[2]!.frames.every((f) => f.id === 's3-a' || f.id === 's3-b')).toBe(true);
    expect(sockets[3]!.frames.every((f) => f.id === 'other-session')).toBe(true);

    for (const c of sockets) await c.dispose();
    await eventually(async () => a.app.ws.deliveryGroups, (n) => n === groupsBefore);
  });

  it("never delivers one user's events to another user's sockets", async () => {
    const alice = await register(a);
    const bob = newIdentity('bob');
    const bobTokens = await register(a, bob);
    const aliceSockets = await Promise.all([open(a, alice.accessToken, [{ id: 'mine', query: ON_EVENT }]), open(a, alice.accessToken, [{ id: 'mine', query: ON_EVENT }])]);
    const bobSockets = await Promise.all([open(a, bobTokens.accessToken, [{ id: 'mine', query: ON_EVENT }]), open(a, bobTokens.accessToken, [{ id: 'mine', query: ON_EVENT }])]);
    await settled(alice.user.id, aliceSockets.map((c) => [c, 'mine']));
    await settled(bobTokens.user.id, bobSockets.map((c) => [c, 'mine']));

    const forAlice = Array.from({ length: 10 }, () => event('for alice'));
    const forBob = Array.from({ length: 10 }, () => event('for bob'));
    for (let i = 0; i < 10; i++) {
      await a.infra.pubsub.publish('securityEvent', alice.user.id, forAlice[i]!);
      await a.infra.pubsub.publish('securityEvent', bobTokens.user.id, forBob[i]!);
    }
    await login(b, bob.username, bob.password, { 'user-agent': 'bob-phone' }); // a real event of Bob's
    for (const c of bobSockets) await eventually(async () => c.events('mine').map((e) => e.userAgent), (uas) => uas.includes('bob-phone'));
    const marker = event('alice marker'); // published after Bob's: once Alice has it, Bob's would have arrived too
    await a.infra.pubsub.publish('securityEvent', alice.user.id, marker);
    const bobsSessions = (await a.infra.prisma.session.findMany({ where: { userId: bobTokens.user.id }, select: { id: true } })).map((s) => s.id);
    for (const c of aliceSockets) {
      await eventually(async () => c.events('mine').map((e) => e.id), (ids) => ids.includes(marker.id));
      const got = c.events('mine');
      expect(got.filter((e) => e.userAgent === 'for alice' || e.userAgent === 'alice marker').map((e) => e.id)).toEqual([...forAlice.map((e) => e.id), marker.id]);
      expect(got.filter((e) => e.userAgent === 'for bob' || e.userAgent === 'bob-phone' || bobsSessions.includes(String(e.sessionId)))).toEqual([]);
    }
    for (const c of bobSockets) {
      const got = c.events('mine');
      expect(got.filter((e) => e.userAgent === 'for bob').map((e) => e.id)).toEqual(forBob.map((e) => e.id));
      expect(got.filter((e) => e.userAgent === 'for alice' || e.userAgent === 'alice marker')).toEqual([]);
    }
  });

  it("stops a subscription that completes, a socket that closes and a revoked session's sockets; the user's other sockets keep receiving", async () => {
    const id = newIdentity('stop');
    const t = await register(a, id);
    const other = (await login(a, id.username, id.password)).body.data!.login;
    const [x, y, z, w] = await Promise.all([
      open(a, t.accessToken, [{ id: 'x1', query: ON_EVENT }, { id: 'x2', query: ON_EVENT }]),
      open(a, t.accessToken, [{ id: 'y', query: ON_EVENT }]),
      open(a, t.accessToken, [{ id: 'z', query: ON_EVENT }]),
      open(a, other.accessToken, [{ id: 'w', query: ON_EVENT }]),
    ]);
    await settled(t.user.id, [
      [x!, 'x1'],
      [x!, 'x2'],
      [y!, 'y'],
      [z!, 'z'],
      [w!, 'w'],
    ]);
    const publish = async (label: string) => {
      const e = event(label);
      await a.infra.pubsub.publish('securityEvent', t.user.id, e);
      return e.id;
    };
    const has = (c: Opened, subId: string, eventId: string) => c.events(subId).some((e) => e.id === eventId);

    // x completes one of its two subscriptions, z's socket goes away: the others of the group carry on.
    x!.unsubscribe('x1');
    await z!.dispose();
    await new Promise((r) => setTimeout(r, 200));
    const first = await publish('after unsubscribe');
    for (const [c, subId] of [
      [x!, 'x2'],
      [y!, 'y'],
      [w!, 'w'],
    ] as const) {
      await eventually(async () => has(c, subId, first), Boolean);
    }
    expect(has(x!, 'x1', first)).toBe(false);
    expect(has(z!, 'z', first)).toBe(false);

    // The first session is revoked from the second: its sockets close and get nothing more.
    await gql(b, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: sessionOf(t.accessToken) }, bearer(other.accessToken));
    await eventually(async () => [x!.closed?.code, y!.closed?.code], (codes) => codes.every((c) => c === WS_CLOSE.unauthorized));
    const framesAtClose = [x!.frames.length, y!.frames.length];
    const second = await publish('after revoke');
    await eventually(async () => has(w!, 'w', second), Boolean);
    expect([x!.frames.length, y!.frames.length]).toEqual(framesAtClose);
    expect(w!.closed).toBeUndefined();
  });

  it('gives each selection and each set of variables its own result shape, on one socket and across sockets', async () => {
    const t = await register(a);
    const groupsBefore = a.app.ws.deliveryGroups;
    const WITH_VARS = 'subscription S($full: Boolean!) { securityEvent { id ip @include(if: $full) userAgent @skip(if: $full) } }';
    const [one, two] = await Promise.all([
      open(a, t.accessToken, [
        { id: 'ids', query: 'subscription { securityEvent { id } }' },
        { id: 'wide', query: 'subscription { securityEvent { id type userAgent } }' },
        { id: 'full', query: WITH_VARS, variables: { full: true } },
      ]),
      open(a, t.accessToken, [
        { id: 'lean', query: WITH_VARS, variables: { full: false } },
        { id: 'aliased', query: 'subscription { securityEvent { eventId: id kind: type } }' },
        { id: 'ids', query: 'subscription { securityEvent { id } }' },
      ]),
    ]);
    await settled(t.user.id, [
      [one!, 'ids'],
      [one!, 'wide'],
      [one!, 'full'],
      [two!, 'lean'],
      [two!, 'aliased'],
      [two!, 'ids'],
    ]);
    // `ids` on both sockets is one group; every other selection or set of variables is a group of its own.
    expect(a.app.ws.deliveryGroups - groupsBefore).toBe(5);
    const e = event('shape');
    await a.infra.pubsub.publish('securityEvent', t.user.id, e);
    const frameOf = (c: Opened, subId: string) => eventually(async () => c.frames.find((f) => f.id === subId && JSON.stringify(f.data).includes(e.id)), Boolean);
    expect((await frameOf(one!, 'ids'))!.data).toEqual({ securityEvent: { id: e.id } });
    expect((await frameOf(two!, 'ids'))!.data).toEqual({ securityEvent: { id: e.id } });
    expect((await frameOf(one!, 'wide'))!.data).toEqual({ securityEvent: { id: e.id, type: 'SIGNED_IN', userAgent: 'shape' } });
    expect((await frameOf(one!, 'full'))!.data).toEqual({ securityEvent: { id: e.id, ip: '192.0.2.7' } });
    expect((await frameOf(two!, 'lean'))!.data).toEqual({ securityEvent: { id: e.id, userAgent: 'shape' } });
    expect((await frameOf(two!, 'aliased'))!.data).toEqual({ securityEvent: { eventId: e.id, kind: 'SIGNED_IN' } });
  });

  it("closes only the socket that stops reading (1013 past its send buffer cap); the group's other sockets get every event", { timeout: 90_000 }, async () => {
    const t = await register(a);
    const [slow, steady] = await Promise.all([open(a, t.accessToken, [{ id: 'slow', query: ON_EVENT }]), open(a, t.accessToken, [{ id: 'steady', query: ON_EVENT }])]);
    await settled(t.user.id, [
      [slow!, 'slow'],
      [steady!, 'steady'],
    ]);
    slow!.tcp.pause();
    const big = 'x'.repeat(32 * 1024);
    const sent: string[] = [];
    const remote = serverSides.get(slow!.tcp.localPort!)!;
    // The steady reader keeps up: each event is published once it has the one before, so only the paused
    // socket's buffer grows, however busy the machine (a burst could fill a busy reader's buffer too).
    const steadyHas = async (n: number) => {
      for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 2))) if (steady!.events('steady').length >= n) return;
      throw new Error(`the steady socket has ${steady!.events('steady').length} of ${n} events`);
    };
    // Until the server gives up on the slow socket (the kernel's buffers take some before its own fills).
    while (remote.readyState === WebSocket.OPEN && sent.length < 1_000) {
      const e = event(big);
      sent.push(e.id);
      await a.infra.pubsub.publish('securityEvent', t.user.id, e);
      await steadyHas(sent.length);
      expect(remote.bufferedAmount).toBeLessThanOrEqual(WS_DEFAULTS.maxBufferedBytes + 256);
    }
    expect(remote.readyState).not.toBe(WebSocket.OPEN);
    // More events after the close decision: the steady socket gets them too.
    for (let i = 0; i < 5; i++) {
      const e = event(big);
      sent.push(e.id);
      await a.infra.pubsub.publish('securityEvent', t.user.id, e);
    }
    await steadyHas(sent.length);
    expect(steady!.events('steady').map((e) => e.id)).toEqual(sent);
    slow!.tcp.resume();
    await eventually(async () => slow!.closed?.code, (code) => code !== undefined);
    expect(slow!.closed!.code).toBe(WS_CLOSE.tooSlow);
    expect(slow!.events('slow').length).toBeLessThan(sent.length);
    expect(steady!.closed).toBeUndefined();
  });
});
