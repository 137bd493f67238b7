import type { FastifyPluginAsync } from 'fastify';
import { describe, expect, it } from 'vitest';
import { AppError } from '../infra/errors.js';
import { useTestServer } from '../test/harness.js';

/** A stand-in feature door, to prove the REST plumbing every feature inherits. */
const echoRoutes: FastifyPluginAsync = async (app) => {
  app.post('/echo', async (req) => ({ received: req.body }));
  app.post('/teapot', async () => {
    throw new AppError('EMAIL_TAKEN', 'That email is already registered');
  });
  app.post('/not-allowed', async () => {
    // A framework-style client error with a status outside the mapped few.
    throw Object.assign(new Error('Method not allowed here'), { statusCode: 405 });
  });
  app.post('/crash', async () => {
    throw new Error('database password is hunter2');
  });
};

describe('REST plumbing', () => {
  const fx = useTestServer('rest', { restRoutes: [echoRoutes] });

  const post = (path: string, body: string, contentType = 'application/json') =>
    fetch(`${fx.server.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('mounts feature routes under both /auth and /v1/auth', async () => {
    for (const base of ['/auth', '/v1/auth']) {
      const res = await post(`${base}/echo`, '{"a":1}');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ received: { a: 1 } });
    }
  });

  it('answers malformed JSON with a 400 problem+json', async () => {
    const res = await post('/auth/echo', '{"a":');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 400, code: 'BAD_USER_INPUT', instance: '/auth/echo' });
    expect(typeof body.type).toBe('string');
    expect(typeof body.title).toBe('string');
    expect(typeof body.detail).toBe('string');
  });

  it('answers an oversized body with a 413 problem+json', async () => {
    const res = await post('/v1/auth/echo', JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('refuses a body that is not JSON with 415', async () => {
    const res = await post('/auth/echo', 'a=1', 'text/plain');
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('maps an AppError to its contract status and code', async () => {
    const res = await post('/auth/teapot', '{}');
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ status: 409, code: 'EMAIL_TAKEN' });
  });

  it('masks an unexpected error as INTERNAL_SERVER_ERROR and logs its cause with the request id', async () => {
    const res = await fetch(`${fx.server.url}/auth/crash`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-crash-1' },
      body: '{}',
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('req-crash-1');
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('at ');
    const line = fx.server.logs.find((l) => l.includes('hunter2'));
    expect(line && JSON.parse(line)).toMatchObject({ requestId: 'req-crash-1', level: 'error' });
    // Every line of the request carries the id, once.
    const ofRequest = fx.server.logs.filter((l) => l.includes('req-crash-1'));
    expect(ofRequest.length).toBeGreaterThanOrEqual(2); // the error, the access line
    for (const l of ofRequest) expect(l.match(/"requestId"/g)).toHaveLength(1);
  });

  it('answers any other framework client error as BAD_USER_INPUT, never 500', async () => {
    const res = await post('/auth/not-allowed', '{}');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('answers unknown routes with a 404 problem+json', async () => {
    const res = await fetch(`${fx.server.url}/auth/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('answers malformed JSON to /graphql in GraphQL shape, never 500', async () => {
    const res = await post('/graphql', '{"query": ');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('refuses a mutation sent with GET (CSRF) and a query without a JSON content type', async () => {
    const get = await fetch(`${fx.server.url}/graphql?query=${encodeURIComponent('{ health { ready } }')}`);
    expect(get.status).toBe(400); // Apollo's CSRF prevention: a simple GET without a preflight header
    const plain = await post('/graphql', '{"query":"{ health { ready } }"}', 'text/plain');
    expect(plain.status).toBe(415);
  });
});
