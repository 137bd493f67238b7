import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf, register } from '../test/auth-client.js';
import { gql, useTestServer, useTestServers, type TestServer } from '../test/harness.js';


/** A query `depth` levels deep, through __type's recursive ofType (valid, and deep). */
const deepQuery = (depth: number) => {
  let inner = 'name';
  for (let i = 0; i < depth; i++) inner = `ofType { ${inner} }`;
  return `query Deep { __type(name: "User") { fields { type { ${inner} } } } }`;
};
const aliasQuery = (n: number) => `query Many { ${Array.from({ length: n }, (_, i) => `a${i}: health { ready }`).join(' ')} }`;

describe('the edge', () => {
  const fx = useTestServer('edge', { env: { CORS_ORIGINS: 'https://app.example.com', PUBLIC_URL: 'https://auth.example.com' } });

  it('sends the security headers, and no-store on responses that carry tokens', async () => {
    const res = await fetch(`${fx.server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'edge_user', email: 'edge@example.com', password: 'a long passphrase here' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=31536000; includeSubDomains/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const graphql = await gql(fx.server, '{ health { ready } }');
    expect(graphql.status).toBe(200);
  });

  it("serves GraphiQL under its own CSP: this origin's assets and its own inline scripts only", async () => {
    const page = await fetch(`${fx.server.url}/graphiql`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')+/);
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('answers CORS only for CORS_ORIGINS', async () => {
    const allowed = await fetch(`${fx.server.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const foreign = await fetch(`${fx.server.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a preflight from a foreign origin with 403 FORBIDDEN, granting nothing', async () => {
    for (const path of ['/graphql', '/auth/login']) {
      const res = await fetch(`${fx.server.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' } });
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      for (const grant of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials']) {
        expect(res.headers.get(grant), grant).toBeNull();
      }
    }
  });

  it("always admits the server's own origin (PUBLIC_URL), over HTTP and at the WebSocket handshake, beside CORS_ORIGINS", async () => {
    const own = 'https://auth.example.com';
    const preflight = await fetch(`${fx.server.url}/graphql`, { method: 'OPTIONS', headers: { origin: own, 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(own);
    const handshake = (origin: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(fx.server.wsUrl, 'graphql-transport-ws', { origin });
        socket.on('error', () => undefined); // a refused handshake also reports an error
        socket.once('open', () => {
          socket.close();
          resolve(101);
        });
        socket.once('unexpected-response', (_req, res) => {
          socket.terminate();
          resolve(res.statusCode ?? 0);
        });
      });
    expect(await handshake(own)).toBe(101);
    expect(await handshake('https://app.example.com')).toBe(101);
    expect(await handshake('https://evil.example.net')).not.toBe(101);
  });

  it('answers a known path asked with another method 405 with Allow, and an unknown path 404', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/auth/login', 'POST'],
      ['GET', '/v1/auth/register', 'POST'],
      ['DELETE', '/auth/verify-email', 'GET, HEAD, POST'],
      ['PUT', '/graphql', 'GET, HEAD, POST'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['POST', '/readyz', 'GET, HEAD'],
      ['DELETE', '/.well-known/jwks.json', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${fx.server.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED', instance: path });
    }
    const unknown = await fetch(`${fx.server.url}/auth/no-such-thing`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('allow')).toBeNull();
    expect(await unknown.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses a 20-deep query and a 100-alias query over HTTP', async () => {
    expect(codeOf((await gql(fx.server, deepQuery(20))).body)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(codeOf((await gql(fx.server, aliasQuery(100))).body)).toBe('GRAPHQL_VALIDATION_FAILED');
    // A legitimate query still passes.
    expect((await gql(fx.server, aliasQuery(3))).body.data).toBeTruthy();
  });

  it('refuses a 20-deep query and a 100-alias query over the WebSocket', async () => {
    const t = await register(fx.server);
    const socket = new WebSocket(fx.server.wsUrl, 'graphql-transport-ws');
    const messages: { type: string; id?: string; payload?: { extensions?: { code?: string }; message?: string }[] }[] = [];
    socket.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => socket.once('open', r));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${t.accessToken}` } }));
    await new Promise((r) => setTimeout(r, 200));
    // The subscription type cannot nest (its fields are scalars), so the deep document is the HTTP one:
    // the socket validates it, depth included, before it even checks the operation type.
    socket.send(JSON.stringify({ id: 'd', type: 'subscribe', payload: { query: deepQuery(20) } }));
    const aliasSub = `subscription Many { ${Array.from({ length: 100 }, (_, i) => `a${i}: securityEvent { id }`).join(' ')} }`;
    socket.send(JSON.stringify({ id: 'a', type: 'subscribe', payload: { query: aliasSub } }));
    await new Promise((r) => setTimeout(r, 300));
    socket.close();
    const errors = messages.filter((m) => m.type === 'error');
    expect(errors.map((e) => e.id).sort()).toEqual(['a', 'd']);
    // Refused by the shape rules (armor's message), not by the subscriptions-only check that follows them.
    for (const e of errors) expect(e.payload?.map((p) => p.message).join(' '), JSON.stringify(e)).toMatch(/Query validation error/);
  });

  it('refuses text/plain bodies, mutations over GET, and batched requests', async () => {
    const plain = await fetch(`${fx.server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"query":"mutation { logout }"}' });
    expect(plain.status).toBe(415);
    const restPlain = await fetch(`${fx.server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"username":"a","password":"b"}' });
    expect(restPlain.status).toBe(415);
    const get = await fetch(`${fx.server.url}/graphql?query=${encodeURIComponent('mutation { logout }')}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(get.status).toBe(405);
    const batch = await fetch(`${fx.server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ health { ready } }' }, { query: '{ health { ready } }' }]),
    });
    expect(batch.status).toBe(400);
  });

  it('refuses a subscription sent over HTTP with BAD_REQUEST, never a 500', async () => {
    const t = await register(fx.server);
    const res = await gql(fx.server, 'subscription { securityEvent { id } }', undefined, { authorization: `Bearer ${t.accessToken}` });
    expect(res.status).toBe(400);
    expect(codeOf(res.body)).toBe('BAD_REQUEST');
  });

  it('answers a 2 MB body with 413', async () => {
    const res = await fetch(`${fx.server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'x', password: 'y'.repeat(2 * 1024 * 1024) }) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('hides field suggestions', async () => {
    const res = await gql(fx.server, '{ healt { ready } }');
    expect(res.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
  });
});

describe('native TLS', () => {
  const fx = useTestServers('tls');
  let server: TestServer;
  let cert: string;

  beforeAll(async () => {
    const dir = await fx.tempDir('tls');
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    } as never);
    cert = pems.cert;
    await writeFile(join(dir, 'cert.pem'), pems.cert);
    await writeFile(join(dir, 'key.pem'), pems.private, { mode: 0o600 });
    server = await fx.start({ env: { TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem') } });
  });

  it('serves HTTPS and WSS with the given certificate', async () => {
    expect(server.url.startsWith('https://')).toBe(true);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(`${server.url}/graphql`, { method: 'POST', ca: cert, headers: { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve(data));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ query: 'mutation R($i: RegisterInput!) { register(input: $i) { accessToken } }', variables: { i: { username: 'tls_user', email: 'tls@example.com', password: 'a long passphrase here' } } }));
    });
    const token = (JSON.parse(body) as { data: { register: { accessToken: string } } }).data.register.accessToken;
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { ca: cert });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    const ack = await new Promise<string>((resolve) => socket.once('message', (d) => resolve(String(d))));
    expect(JSON.parse(ack)).toEqual({ type: 'connection_ack' });
    socket.close();
    // Plain HTTP is not served on the TLS port.
    await expect(fetch(server.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });
});
