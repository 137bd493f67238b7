import { performance } from 'node:perf_hooks';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { newIdentity } from '../../test/auth-client.js';
import {
  LoginDocument,
  MeDocument,
  OnSecurityEventDocument,
  RegisterDocument,
  SessionsDocument,
  type OnSecurityEventSubscription,
} from '../../test/generated/graphql.js';
import { useTestServer, type TestServer } from '../../test/harness.js';

type ReceivedEvent = OnSecurityEventSubscription['securityEvent'] & { receivedAt: number };

/**
 * One "device" as a frontend builds it: queries and mutations over HttpLink (fetch), subscriptions over
 * GraphQLWsLink (graphql-ws), split by operation type, the access token sent on both.
 */
function device(server: TestServer, userAgent: string) {
  let accessToken: string | undefined;
  const authorization = () => (accessToken ? { authorization: `Bearer ${accessToken}` } : {});
  let connected!: () => void;
  const wsConnected = new Promise<void>((resolve) => (connected = resolve));
  const ws: WsClient = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    // Read at connect time, so the token set after `register` is the one sent in connection_init.
    connectionParams: () => authorization(),
    retryAttempts: 0,
    on: { connected: () => connected() },
  });
  const auth = new ApolloLink((operation, forward) => {
    operation.setContext(({ headers }: { headers?: Record<string, string> }) => ({
      headers: { ...headers, 'user-agent': userAgent, ...authorization() },
    }));
    return forward(operation);
  });
  const link = ApolloLink.split(
    (op) => op.operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws),
    auth.concat(new HttpLink({ uri: `${server.url}/graphql` })),
  );
  // The cache must know the union's members to match `... on AuthPayload` / `... on MfaChallenge`.
  const cache = new InMemoryCache({ possibleTypes: { LoginResult: ['AuthPayload', 'MfaChallenge'] } });
  const client = new ApolloClient({ link, cache });
  return {
    client,
    wsConnected,
    signIn(token: string) {
      accessToken = token;
    },
    async dispose() {
      client.stop();
      await ws.dispose();
    },
  };
}

describe('security events through Apollo Client (HttpLink + GraphQLWsLink), as a frontend runs them', () => {
  const fx = useTestServer('apollo');
  const devices: ReturnType<typeof device>[] = [];
  afterAll(async () => {
    for (const d of devices) await d.dispose();
  });

  /** Resolves once this instance holds a Redis subscription on the user's channel (src/infra/pubsub.ts). */
  async function subscriptionRegistered(userId: string, timeoutMs = 2_000) {
    const channel = `${fx.prefix}pubsub:securityEvent:${userId}`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [, count] = (await fx.server.infra.redis.pubsub('NUMSUB', channel)) as [string, number];
      if (Number(count) > 0) return;
      if (Date.now() > deadline) throw new Error(`no subscriber on ${channel} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('delivers SIGNED_IN for a login on another device within a second, with that session id', async () => {
    const identity = newIdentity('apollo');
    const phone = device(fx.server, 'LatchkeyTest/1.0 (phone)');
    const laptop = device(fx.server, 'LatchkeyTest/1.0 (laptop)');
    devices.push(phone, laptop);

    // Register on the phone.
    const registered = await phone.client.mutate({ mutation: RegisterDocument, variables: { input: identity } });
    const account = registered.data!.register;
    expect(account.user.username).toBe(identity.username);
    phone.signIn(account.accessToken);

    // The phone subscribes to its security events.
    const events: ReceivedEvent[] = [];
    const waiters: { match: (e: ReceivedEvent) => boolean; resolve: (e: ReceivedEvent) => void }[] = [];
    let failure: unknown;
    const subscription = phone.client.subscribe({ query: OnSecurityEventDocument }).subscribe({
      next: ({ data, error }) => {
        if (error) failure = error;
        if (!data) return;
        const event = { ...data.securityEvent, receivedAt: performance.now() };
        events.push(event);
        for (const w of [...waiters]) {
          if (!w.match(event)) continue;
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(event);
        }
      },
      error: (err: unknown) => (failure = err),
    });
    const nextEvent = (match: (e: ReceivedEvent) => boolean, timeoutMs: number) =>
      new Promise<ReceivedEvent>((resolve, reject) => {
        const seen = events.find(match);
        if (seen) return resolve(seen);
        const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}; error ${String(failure)}`)), timeoutMs);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      });
    try {
      await phone.wsConnected;
      await subscriptionRegistered(account.user.id);

      // Sign in to the same account on the laptop.
      const loginStarted = performance.now();
      const login = (await laptop.client.mutate({ mutation: LoginDocument, variables: { input: { identifier: identity.username, password: identity.password } } })).data!.login;
      const loginReturned = performance.now();
      if (login.__typename !== 'AuthPayload') throw new Error(`expected AuthPayload, got ${login.__typename}`);
      laptop.signIn(login.accessToken);

      const laptopSessions = (await laptop.client.query({ query: SessionsDocument, fetchPolicy: 'network-only' })).data!.sessions;
      const laptopSession = laptopSessions.find((s) => s.current);
      expect(laptopSession).toBeDefined();

      const event = await nextEvent((e) => e.type === 'SIGNED_IN' && e.sessionId === laptopSession!.id, 1_000);
      const latency = event.receivedAt - loginReturned;
      // eslint-disable-next-line no-console
      console.log(`login -> SIGNED_IN event: ${latency.toFixed(1)} ms after the login returned (login took ${(loginReturned - loginStarted).toFixed(1)} ms)`);
      expect(latency).toBeLessThan(1_000);
      expect(event).toMatchObject({ type: 'SIGNED_IN', sessionId: laptopSession!.id, userAgent: 'LatchkeyTest/1.0 (laptop)', readAt: null });
      expect(event.ip).toBeTruthy();
      expect(failure).toBeUndefined();

      // The phone sees both sessions, the laptop's one as not its own.
      const phoneSessions = (await phone.client.query({ query: SessionsDocument, fetchPolicy: 'network-only' })).data!.sessions;
      expect(phoneSessions).toHaveLength(2);
      expect(phoneSessions.find((s) => s.id === laptopSession!.id)?.current).toBe(false);

      // And `me` works on both devices.
      for (const d of [phone, laptop]) {
        const me = (await d.client.query({ query: MeDocument, fetchPolicy: 'network-only' })).data!.me;
        expect(me).toMatchObject({ id: account.user.id, username: identity.username });
      }
    } finally {
      subscription.unsubscribe();
    }
  });
});
