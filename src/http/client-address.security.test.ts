import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import proxyAddr from '@fastify/proxy-addr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../test/db.js';
import { clearRedisPrefix, startTestServer, uniquePrefix, type TestServer } from '../test/harness.js';

/** The TRUST_PROXY the API replicas get from docker-compose.yml when .env leaves it unset. */
function composeTrustProxy(): string {
  const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { 'x-app-env': Record<string, string> };
  const raw = compose['x-app-env'].TRUST_PROXY ?? '';
  return /^\$\{TRUST_PROXY:-(.*)\}$/.exec(raw)?.[1] ?? raw;
}

/**
 * An address of this machine that `trustProxy` trusts, to send the proxy's upstream hop from: the
 * part Caddy plays with its address on the compose network. A hop count or `true` trusts any peer.
 */
function trustedLocalAddress(trustProxy: string): string | undefined {
  if (trustProxy === 'true' || /^\d+$/.test(trustProxy)) return '127.0.0.1';
  const trusts = proxyAddr.compile(trustProxy.split(',').map((s) => s.trim()));
  const local = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !a.address.startsWith('fe80:'));
  return (local.find((a) => a?.family === 'IPv4' && trusts(a.address, 0)) ?? local.find((a) => trusts(a!.address, 0)))?.address;
}

/** A reverse proxy the way Caddy runs by default: it sets X-Forwarded-For to its peer's address, dropping any sent. */
async function startForwardingProxy(target: URL, sourceAddress: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = {
      ...req.headers,
      host: target.host,
      'x-forwarded-for': req.socket.remoteAddress ?? '',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': req.headers.host ?? '',
    };
    const upstream = request(
      { hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, method: req.method, path: req.url, headers, localAddress: sourceAddress },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A JSON POST sent from a given local address (fetch cannot choose one). */
function postFrom(localAddress: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      {
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        path: target.pathname,
        method: 'POST',
        localAddress,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const failedLogin = (from: string, base: string, n: number, headers: Record<string, string> = {}) =>
  postFrom(from, `${base}/auth/login`, { username: `nobody_${from.replaceAll(/[.:]/g, '_')}_${n}`, password: 'not the password' }, headers);

describe('behind a reverse proxy, with the TRUST_PROXY docker-compose.yml gives the API', () => {
  const composeValue = composeTrustProxy();
  const proxySource = trustedLocalAddress(composeValue);
  // A machine with no address in the compose ranges: the proxy's hop is named on loopback as well
  // (the same form of value), and the direct client below still comes from an address outside it.
  const trustProxy = proxySource ? composeValue : `${composeValue},127.0.0.1`;
  const upstreamSource = proxySource ?? '127.0.0.1';
  const serverHost = upstreamSource.includes(':') ? '::1' : '127.0.0.1';
  const directClient = serverHost === '::1' ? '::1' : '127.0.0.2';
  // Two clients of the proxy, on two loopback addresses.
  const alice = '127.0.0.3';
  const bob = '127.0.0.4';
  const prefix = uniquePrefix('xff');
  let db: TestDatabase;
  let server: TestServer;
  let proxy: Awaited<ReturnType<typeof startForwardingProxy>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer({ databaseUrl: db.url, redisPrefix: prefix, host: serverHost, env: { TRUST_PROXY: trustProxy, RATE_LIMIT_LOGIN_IP: '3/900' } });
    proxy = await startForwardingProxy(new URL(server.url), upstreamSource);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
    await clearRedisPrefix(prefix);
    await db?.drop();
  });

  it('gives two clients behind the proxy separate per-IP budgets, and records each client address', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await failedLogin(alice, proxy.url, i)).body.code);
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
    // A header alice writes herself is replaced by the proxy: she stays limited.
    expect((await failedLogin(alice, proxy.url, 9, { 'x-forwarded-for': '203.0.113.50' })).body.code).toBe('RATE_LIMITED');

    // Bob, behind the same proxy, has his own budget.
    expect((await failedLogin(bob, proxy.url, 0)).body.code).toBe('INVALID_CREDENTIALS');
    const signUp = await postFrom(bob, `${proxy.url}/auth/register`, { username: 'bob_behind_proxy', email: 'bob.proxy@example.com', password: 'a long passphrase here' });
    expect(signUp.status).toBe(201);
    const session = await server.infra.prisma.session.findFirstOrThrow({ where: { user: { username: 'bob_behind_proxy' } } });
    expect(session.ip).toBe(bob);
  });

  it('ignores X-Forwarded-For from a client that reaches the API directly', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await failedLogin(directClient, server.url, i, { 'x-forwarded-for': `203.0.113.${i}` })).body.code);
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
  });
});
