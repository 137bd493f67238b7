import { describe, expect, it } from 'vitest';
import { bearer, codeOf, ME, register, rest } from '../test/auth-client.js';
import { gql, useTestServer } from '../test/harness.js';

/**
 * The general per-IP budget (RATE_LIMIT_GENERAL) through the public doors: every HTTP request pays one
 * point, every GraphQL root field beyond the first pays one more, probes and /metrics pay nothing.
 * Each test speaks from its own address (X-Forwarded-For from the trusted loopback proxy), so each
 * starts with a full budget of three points.
 */
describe('general budget per request', () => {
  const t = useTestServer('general', { env: { RATE_LIMIT_GENERAL: '3/60', TRUST_PROXY: '127.0.0.1' } });
  let lastIp = 0;
  const newClient = () => ({ 'x-forwarded-for': `198.51.100.${++lastIp}` });

  it('refuses a flood of { __typename } documents, which select no field, once the budget is spent', async () => {
    const from = newClient();
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) codes.push(codeOf((await gql(t.server, '{ __typename }', undefined, from)).body));
    expect(codes).toEqual([undefined, undefined, undefined, 'RATE_LIMITED', 'RATE_LIMITED']);
    const refused = await gql(t.server, '{ __typename }', undefined, from);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
  });

  it('charges one point for { me }: three answer, the fourth is refused', async () => {
    const user = await register(t.server, undefined, newClient());
    const from = { ...newClient(), ...bearer(user.accessToken) };
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) codes.push(codeOf((await gql(t.server, ME, undefined, from)).body));
    expect(codes).toEqual([undefined, undefined, undefined, 'RATE_LIMITED']);
  });

  it('charges an aliased document per root field: three aliases spend the whole budget of three', async () => {
    const user = await register(t.server, undefined, newClient());
    const from = { ...newClient(), ...bearer(user.accessToken) };
    const three = await gql<Record<string, { id: string }>>(t.server, '{ a: me { id } b: me { id } c: me { id } }', undefined, from);
    expect(three.body.errors).toBeUndefined();
    expect(Object.keys(three.body.data ?? {})).toEqual(['a', 'b', 'c']);
    expect(codeOf((await gql(t.server, '{ __typename }', undefined, from)).body)).toBe('RATE_LIMITED');

    const four = await gql(t.server, '{ a: me { id } b: me { id } c: me { id } d: me { id } }', undefined, { ...newClient(), ...bearer(user.accessToken) });
    expect(codeOf(four.body)).toBe('RATE_LIMITED');
  });

  it('charges every other route too (REST, JWKS, unknown paths, malformed bodies), one point per request', async () => {
    const from = newClient();
    expect((await rest(t.server, 'GET', '/.well-known/jwks.json', undefined, from)).status).toBe(200);
    expect((await rest(t.server, 'GET', '/no/such/route', undefined, from)).status).toBe(404);
    const malformed = await fetch(`${t.server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...from }, body: '{' });
    expect(malformed.status).toBe(400);
    const refused = await rest(t.server, 'GET', '/.well-known/jwks.json', undefined, from);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await rest(t.server, 'POST', '/auth/login', { username: 'x', password: 'y' }, from)).body).toMatchObject({ code: 'RATE_LIMITED' });

    // REST calls pay exactly one point each (one mechanism, not a second charge under /auth).
    const rester = newClient();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await rest(t.server, 'POST', '/auth/login', { username: 'nobody', password: 'wrong' }, rester)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('leaves the probes and /metrics free, even for a client whose budget is spent', async () => {
    const from = newClient();
    for (let i = 0; i < 4; i++) await gql(t.server, '{ __typename }', undefined, from);
    expect(codeOf((await gql(t.server, '{ __typename }', undefined, from)).body)).toBe('RATE_LIMITED');
    for (let i = 0; i < 5; i++) {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${t.server.url}${path}`, { headers: from })).status).toBe(200);
    }
  });
});
