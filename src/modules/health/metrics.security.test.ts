import { request } from 'node:http';
import { Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { gql, useTestServer, type TestServer } from '../../test/harness.js';

/** Every series of one metric in an exposition, as `labels` objects. */
function seriesOf(exposition: string, metric: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = line.slice(metric.length + 1, line.indexOf('}'));
    out.push(Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!])));
  }
  return out;
}

const scrape = async (server: TestServer) => (await fetch(`${server.url}/metrics`)).text();

/** A request with any method (fetch refuses some), answered with its status. */
const send = (url: string, method: string) =>
  new Promise<number>((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('metric labels stay within a fixed set whatever clients send', () => {
  const t = useTestServer('metrics-labels');

  it('labels GraphQL operations by root field, never by the client-chosen operationName', async () => {
    const rootFields = new Set([
      ...Object.keys(t.server.app.schema.getQueryType()?.getFields() ?? {}),
      ...Object.keys(t.server.app.schema.getMutationType()?.getFields() ?? {}),
      ...Object.keys(t.server.app.schema.getSubscriptionType()?.getFields() ?? {}),
    ]);
    const allowed = new Set([...rootFields, '__typename', '__schema', '__type', 'multiple', 'other']);
    await gql(t.server, 'query Warmup { __typename }');
    const seriesBefore = seriesOf(await scrape(t.server), 'latchkey_graphql_operations_total').length;

    for (let i = 0; i < 150; i++) await gql(t.server, `query Attack${i}x${i * 7919} { __typename }`);
    // A 50 KB name: one token, well under the body and token limits.
    const huge = `N${'x'.repeat(50 * 1024)}`;
    await gql(t.server, `query ${huge} { __typename }`);
    await gql(t.server, `query ${huge}2 { health { ready } }`);

    const text = await scrape(t.server);
    expect(text).not.toContain('Attack');
    expect(text).not.toContain('xxxxxxxxxxxxxxxx');
    const ops = seriesOf(text, 'latchkey_graphql_operations_total');
    for (const s of ops) expect(allowed.has(s.operation!)).toBe(true);
    // `__typename` was already a series; the health query added at most one more.
    expect(ops.length).toBeLessThanOrEqual(seriesBefore + 1);
    for (const s of seriesOf(text, 'latchkey_graphql_operation_duration_seconds_count')) expect(allowed.has(s.operation!)).toBe(true);
  });

  it('names the root field an operation selects, through aliases and fragments; several fields are `multiple`', async () => {
    await gql(t.server, 'query Anything { a: health { ready } b: health { redis } }');
    await gql(t.server, 'query { ...Probe } fragment Probe on Query { ... on Query { health { postgres } } }');
    await gql(t.server, 'query Both { health { ready } __typename me { id } }');
    await gql(t.server, '{ nosuchfield }');
    const ops = seriesOf(await scrape(t.server), 'latchkey_graphql_operations_total');
    const count = (operation: string, type: string) =>
      ops.filter((s) => s.operation === operation && s.type === type).length;
    expect(count('health', 'query')).toBeGreaterThan(0);
    expect(count('multiple', 'query')).toBeGreaterThan(0);
    // A document that fails validation never resolved to an operation.
    expect(count('other', 'unknown')).toBeGreaterThan(0);
    expect(ops.some((s) => ['Anything', 'Both', 'anonymous', 'nosuchfield'].includes(s.operation!))).toBe(false);
  });

  it('counts unknown HTTP methods as `other` and unknown paths as `unmatched`', async () => {
    // A known path asked with another method answers 405 (with Allow); the method still never becomes a label.
    for (const method of ['PROPFIND', 'MKCALENDAR', 'PURGE', 'SEARCH']) expect(await send(`${t.server.url}/healthz`, method)).toBe(405);
    for (let i = 0; i < 50; i++) expect(await send(`${t.server.url}/probe-${i}/${'y'.repeat(i * 40)}?q=${i}`, 'GET')).toBe(404);
    const text = await scrape(t.server);
    const http = seriesOf(text, 'latchkey_http_requests_total');
    const methods = new Set(http.map((s) => s.method));
    for (const m of methods) expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other']).toContain(m);
    expect(methods.has('other')).toBe(true);
    expect(text).not.toMatch(/PROPFIND|MKCALENDAR|probe-/);
    expect(http.some((s) => s.route === 'unmatched' && s.status === '404')).toBe(true);
  });
});

describe('/metrics behind METRICS_TOKEN on the API port', () => {
  const token = 'metrics-token-0123456789abcdef';
  const t = useTestServer('metrics-token', { env: { METRICS_TOKEN: token } });

  it('answers 401 problem+json without the right bearer token, and the exposition with it', async () => {
    for (const headers of [{}, bearer('wrong-token-0123456789abcdef'), bearer(`${token}x`), { authorization: `Basic ${token}` }, { authorization: token }]) {
      const res = await fetch(`${t.server.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    }
    const ok = await fetch(`${t.server.url}/metrics`, { headers: bearer(token) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('latchkey_http_requests_total');
    // The probes stay open.
    expect((await fetch(`${t.server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.server.url}/readyz`)).status).toBe(200);
  });
});

describe('/metrics on its own listener (METRICS_PORT)', () => {
  const t = useTestServer('metrics-port', { env: { METRICS_PORT: '0' } });

  it('serves /metrics there, including the API port’s counters, and no longer on the API port', async () => {
    expect(t.server.metricsUrl).toBeDefined();
    await fetch(`${t.server.url}/healthz`);
    const onApi = await fetch(`${t.server.url}/metrics`);
    expect(onApi.status).toBe(404);
    expect(await onApi.json()).toMatchObject({ code: 'NOT_FOUND' });

    const res = await fetch(t.server.metricsUrl!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/latchkey_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);

    const other = await fetch(new URL('/graphql', t.server.metricsUrl));
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: 'NOT_FOUND' });
    expect(await send(t.server.metricsUrl!, 'POST')).toBe(404);
  });

  it('logs a collection failure with its cause and answers problem+json, never a bare 500', async () => {
    const sentinel = `collector broke ${Date.now()}`;
    new Gauge({
      name: 'latchkey_test_broken',
      help: 'a collector that throws',
      registers: [t.server.infra.metrics.registry],
      collect() {
        throw new Error(sentinel);
      },
    });
    try {
      const res = await fetch(t.server.metricsUrl!);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
      const logged = t.server.logs.map((l) => JSON.parse(l) as { level: string; err?: { message?: string } });
      expect(logged.some((l) => l.level === 'error' && l.err?.message === sentinel)).toBe(true);
    } finally {
      t.server.infra.metrics.registry.removeSingleMetric('latchkey_test_broken');
    }
    expect((await fetch(t.server.metricsUrl!)).status).toBe(200);
  });
});

describe('/metrics on its own listener behind METRICS_TOKEN', () => {
  const token = 'separate-listener-token-0123456789';
  const t = useTestServer('metrics-both', { env: { METRICS_PORT: '0', METRICS_TOKEN: token } });

  it('asks the separate listener for the bearer token', async () => {
    const refused = await fetch(t.server.metricsUrl!);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await fetch(t.server.metricsUrl!, { headers: bearer('separate-listener-token-0123456780') })).status).toBe(401);
    const ok = await fetch(t.server.metricsUrl!, { headers: bearer(token) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('latchkey_process_cpu_seconds_total');
    expect((await fetch(`${t.server.url}/metrics`, { headers: bearer(token) })).status).toBe(404);
  });
});
