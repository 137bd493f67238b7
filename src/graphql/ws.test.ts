import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, register } from '../test/auth-client.js';
import { gql, useTestServer } from '../test/harness.js';
import { WS_CLOSE } from './ws.js';

/** Opens a raw graphql-transport-ws socket and sends connection_init; resolves with the first message or the close. */
async function rawInit(url: string, payload: object, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
  const outcome = new Promise<{ message?: unknown; close?: { code: number; reason: string } }>((resolve) => {
    socket.once('message', (d) => resolve({ message: JSON.parse(String(d)) }));
    socket.once('close', (code, reason) => resolve({ close: { code, reason: String(reason) } }));
    socket.once('unexpected-response', (_req, res) => resolve({ close: { code: res.statusCode ?? 0, reason: 'handshake refused' } }));
    socket.once('error', () => undefined);
  });
  socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
  return { socket, outcome: await outcome };
}

describe('graphql-ws on /graphql', () => {
  const fx = useTestServer('ws', { env: { CORS_ORIGINS: 'https://app.example.com' } });
  let token: string;
  beforeAll(async () => {
    token = (await register(fx.server)).accessToken;
  });

  const client = (): Client =>
    createClient({ url: fx.server.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { authorization: `Bearer ${token}` } });
  const run = (query: string) => {
    const c = client();
    return new Promise<unknown>((resolve) => {
      c.subscribe({ query }, { next: (v) => resolve({ next: v }), error: (e) => resolve({ error: e }), complete: () => resolve({ complete: true }) });
    }).finally(() => c.dispose());
  };

  it('acknowledges a connection with a valid access token', async () => {
    const { socket, outcome } = await rawInit(fx.server.wsUrl, { authorization: `Bearer ${token}` });
    expect(socket.protocol).toBe('graphql-transport-ws');
    expect(outcome.message).toEqual({ type: 'connection_ack' });
    socket.close();
  });

  it('accepts the token under `Authorization` too (GraphiQL sends its headers as connectionParams)', async () => {
    const { socket, outcome } = await rawInit(fx.server.wsUrl, { Authorization: `Bearer ${token}` });
    expect(outcome.message).toEqual({ type: 'connection_ack' });
    socket.close();
  });

  it.each([
    ['no token', {}],
    ['a garbage token', { authorization: 'Bearer not.a.jwt' }],
    ['a non-bearer scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('closes with 4401 for %s', async (_label, payload) => {
    const { outcome } = await rawInit(fx.server.wsUrl, payload);
    expect(outcome.close?.code).toBe(WS_CLOSE.unauthorized);
  });

  it('closes with 4401 for a token whose session has ended', async () => {
    const t = await register(fx.server);
    await gql(fx.server, 'mutation { logout }', undefined, bearer(t.accessToken));
    const { outcome } = await rawInit(fx.server.wsUrl, { authorization: `Bearer ${t.accessToken}` });
    expect(outcome.close?.code).toBe(WS_CLOSE.unauthorized);
  });

  it('refuses a handshake from a foreign Origin and admits an allowed one', async () => {
    const foreign = await rawInit(fx.server.wsUrl, { authorization: `Bearer ${token}` }, { origin: 'https://evil.example.net' });
    expect(foreign.outcome.close?.code).toBe(401); // verifyClient's refusal at the HTTP upgrade
    const allowed = await rawInit(fx.server.wsUrl, { authorization: `Bearer ${token}` }, { origin: 'https://app.example.com' });
    expect(allowed.outcome.message).toEqual({ type: 'connection_ack' });
    allowed.socket.close();
  });

  it('refuses a query and a mutation sent over the socket', async () => {
    const query = (await run('query Q { me { id } }')) as { error?: { extensions?: { code?: string } }[] };
    expect(query.error?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    const mutation = (await run('mutation M { logout }')) as { error?: { extensions?: { code?: string } }[] };
    expect(mutation.error?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    // The mutation did not run: the session is still live.
    expect((await gql(fx.server, 'query { me { id } }', undefined, bearer(token))).body.data).toBeTruthy();
  });

  it('closes a socket that sends a message over the size cap', async () => {
    const { socket, outcome } = await rawInit(fx.server.wsUrl, { authorization: `Bearer ${token}` });
    expect(outcome.message).toEqual({ type: 'connection_ack' });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { securityEvent { id } } #${'x'.repeat(70_000)}` } }));
    expect(await closed).toBe(1009); // message too big
  });
});
