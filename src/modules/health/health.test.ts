import { beforeAll, describe, expect, it } from 'vitest';
import { gql, useTestServers, type ProxiedLink, type TestServer } from '../../test/harness.js';
import { eventually } from '../../test/tcp-proxy.js';

describe('probes', () => {
  const fx = useTestServers('health');
  let server: TestServer;
  let pgProxy: ProxiedLink;
  let redisProxy: ProxiedLink;

  beforeAll(async () => {
    pgProxy = await fx.postgresProxy();
    redisProxy = await fx.redisProxy();
    server = await fx.start({ databaseUrl: pgProxy.url, env: { REDIS_URL: redisProxy.url } });
  });

  const readyz = async () => {
    const res = await fetch(`${server.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
  };

  it('answers /healthz and /readyz on a random port', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await readyz();
    expect(ready).toEqual({ status: 200, body: { status: 'ready', checks: { postgres: 'up', redis: 'up' } } });
  });

  it('serves Prometheus metrics including HTTP counters', async () => {
    await fetch(`${server.url}/healthz`);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/latchkey_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain('latchkey_process_cpu_seconds_total');
  });

  it('publishes the ES256 public keys without private parts', async () => {
    const res = await fetch(`${server.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(keys[0]?.kid).toBeTruthy();
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('turns /readyz 503 while Redis is unreachable and 200 when it returns', async () => {
    redisProxy.cut();
    try {
      const down = await eventually(readyz, (r) => r.status === 503);
      expect(down.body.checks).toEqual({ postgres: 'up', redis: 'down' });
      const viaGraphQL = await gql<{ health: { ready: boolean; redis: string } }>(server, '{ health { ready redis } }');
      expect(viaGraphQL.body.data?.health).toEqual({ ready: false, redis: 'down' });
    } finally {
      redisProxy.restore();
    }
    await eventually(readyz, (r) => r.status === 200, 15_000);
  });

  it('turns /readyz 503 while PostgreSQL is unreachable and 200 when it returns', async () => {
    pgProxy.cut();
    try {
      const down = await eventually(readyz, (r) => r.status === 503);
      expect(down.body.checks).toEqual({ postgres: 'down', redis: 'up' });
    } finally {
      pgProxy.restore();
    }
    await eventually(readyz, (r) => r.status === 200, 15_000);
  });
});
