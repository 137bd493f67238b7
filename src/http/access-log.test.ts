import { describe, expect, it } from 'vitest';
import { bearer, register, rest } from '../test/auth-client.js';
import { gql, useTestServer } from '../test/harness.js';
import { eventually } from '../test/tcp-proxy.js';

type Line = Record<string, unknown>;

describe('access log', () => {
  const fx = useTestServer('access-log');

  const lines = () => fx.server.logs.map((l) => JSON.parse(l) as Line);
  const ofRequest = (id: string) => lines().filter((l) => l.requestId === id);
  /** The request's access line, once written (after the response is complete, so maybe after the client has it). */
  const accessLine = (id: string) =>
    eventually(async () => ofRequest(id).find((l) => l.msg === 'request completed'), (l) => l !== undefined);

  it('writes one line per request, when it completes, with its bounded fields', async () => {
    const res = await gql(fx.server, '{ __typename }', undefined, { 'x-request-id': 'access-typename' });
    expect(res.status).toBe(200);
    const line = await accessLine('access-typename');
    expect(line).toMatchObject({ level: 'info', method: 'POST', route: '/graphql', status: 200, ip: '127.0.0.1', operation: '__typename' });
    expect(typeof line!.durationMs).toBe('number');
    expect(line).not.toHaveProperty('url');
    expect(line).not.toHaveProperty('path');
    // Fastify's own incoming/completed pair is gone: this request wrote exactly one line.
    expect(ofRequest('access-typename')).toHaveLength(1);
    expect(lines().some((l) => l.msg === 'incoming request')).toBe(false);
  });

  it('labels a GraphQL request by its root field, whatever the client names it, and never logs its token', async () => {
    const t = await register(fx.server);
    const res = await gql(fx.server, 'query Anything_The_Client_Likes { whoAmI: me { id } }', undefined, { ...bearer(t.accessToken), 'x-request-id': 'access-me' });
    expect(res.status).toBe(200);
    expect(await accessLine('access-me')).toMatchObject({ route: '/graphql', status: 200, operation: 'me' });
    expect(ofRequest('access-me')).toHaveLength(1);
    const all = fx.server.logs.join('\n');
    expect(all).not.toContain('Anything_The_Client_Likes');
    expect(all).not.toContain(t.accessToken);
    expect(all).not.toContain(t.refreshToken);
  });

  it('logs the route pattern, never the URL: a token in the query string stays out of the log', async () => {
    const token = 'access-log-secret-token-123';
    await rest(fx.server, 'GET', `/auth/verify-email?token=${token}`, undefined, { accept: 'application/json', 'x-request-id': 'access-get-token' });
    expect(await accessLine('access-get-token')).toMatchObject({ method: 'GET', route: '/auth/verify-email' });
    await rest(fx.server, 'GET', `/no/such/route?token=${token}`, undefined, { 'x-request-id': 'access-unmatched' });
    // No route: the path, without its query, cut short.
    expect(await accessLine('access-unmatched')).toMatchObject({ route: 'unmatched', path: '/no/such/route', status: 404 });
    await rest(fx.server, 'GET', `/${'x'.repeat(1000)}`, undefined, { 'x-request-id': 'access-long' });
    expect(((await accessLine('access-long'))!.path as string).length).toBeLessThanOrEqual(128);
    expect(fx.server.logs.join('\n')).not.toContain(token);
  });

  it('logs health probes and /metrics at debug, not info', async () => {
    for (const [path, id] of [['/healthz', 'access-healthz'], ['/readyz', 'access-readyz'], ['/metrics', 'access-metrics']] as const) {
      await fetch(`${fx.server.url}${path}`, { headers: { 'x-request-id': id } });
      expect(await accessLine(id)).toMatchObject({ level: 'debug', route: path });
      expect(ofRequest(id)).toHaveLength(1);
    }
  });
});
