import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import proxyAddr from '@fastify/proxy-addr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { useTestServers, type TestServer } from '../test/harness.js';

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
  const fx = useTestServers('xff');
  let server: TestServer;
  let proxy: Awaited<ReturnType<typeof startForwardingProxy>>;

  beforeAll(async () => {
    server = await fx.start({ host: serverHost, env: { TRUST_PROXY: trustProxy, RATE_LIMIT_LOGIN_IP: '3/900' } });
    proxy = await startForwardingProxy(new URL(server.url), upstreamSource);
  });
  afterAll(async () => {
    await proxy?.close();
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

describe('per-IP limits count an IPv6 client by its network', () => {
  // The test machine has one IPv6 loopback address, so the addresses arrive the way they do in
  // production behind a proxy: in X-Forwarded-For from a trusted peer (here, loopback).
  const fx = useTestServers('v6');
  const limits = { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_LOGIN_IP: '3/900', RATE_LIMIT_REGISTER: '2/300' };
  let server: TestServer;
  let wide: TestServer;

  beforeAll(async () => {
    server = await fx.start({ env: limits });
    wide = await fx.start({ namespace: '56', env: { ...limits, RATE_LIMIT_IPV6_PREFIX: '56' } });
  });

  const loginFrom = async (s: TestServer, xff: string, n: number) =>
    (await postFrom('127.0.0.1', `${s.url}/auth/login`, { username: `nobody_${n}`, password: 'not the password' }, { 'x-forwarded-for': xff })).body.code;
  const registerFrom = async (xff: string, n: number) => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
      body: JSON.stringify({
        query: 'mutation R($i: RegisterInput!) { register(input: $i) { user { username } } }',
        variables: { i: { username: `v6_user_${n}`, email: `v6.${n}@example.com`, password: 'a long passphrase here' } },
      }),
    });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    return body.errors?.[0]?.extensions?.code ?? 'OK';
  };

  it('REST login: addresses in one /64 share a budget, the next /64 has its own', async () => {
    const codes = [];
    for (const [i, xff] of ['2001:db8:1:2::a', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:DB8:1:2::b', '2001:db8:1:2::c'].entries()) codes.push(await loginFrom(server, xff, i));
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
    expect(await loginFrom(server, '2001:db8:1:3::a', 10)).toBe('INVALID_CREDENTIALS');
  });

  it('an IPv4-mapped IPv6 address counts as its IPv4 address', async () => {
    const codes = [];
    for (const [i, xff] of ['203.0.113.9', '::ffff:203.0.113.9', '203.0.113.9', '::ffff:203.0.113.9'].entries()) codes.push(await loginFrom(server, xff, 20 + i));
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
  });

  it('GraphQL sign-up: one /64 shares a budget, while the session keeps the full address', async () => {
    expect([await registerFrom('2001:db8:9:9::1', 1), await registerFrom('2001:db8:9:9::2', 2), await registerFrom('2001:db8:9:9::3', 3)]).toEqual(['OK', 'OK', 'RATE_LIMITED']);
    expect(await registerFrom('2001:db8:9:a::1', 4)).toBe('OK');
    const session = await server.infra.prisma.session.findFirstOrThrow({ where: { user: { username: 'v6_user_1' } } });
    expect(session.ip).toBe('2001:db8:9:9::1');
  });

  it('RATE_LIMIT_IPV6_PREFIX=56 joins the /64s of one /56', async () => {
    const codes = [];
    for (const [i, xff] of ['2001:db8:5:100::1', '2001:db8:5:1ff::1', '2001:db8:5:142::1', '2001:db8:5:101::1'].entries()) codes.push(await loginFrom(wide, xff, 30 + i));
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
    expect(await loginFrom(wide, '2001:db8:5:200::1', 40)).toBe('INVALID_CREDENTIALS');
  });
});
