import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createRedis } from '../infra/redis.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { mailEnv } from './mail-server.js';
import { startResendDouble, type ResendDouble } from './resend-double.js';
import { sharedSecrets, startTestServer, uniquePrefix, type TestServer, type TestServerOptions } from './server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export { DEFAULT_LIMITS, uniquePrefix, type TestServer } from './server.js';

const redisUrl = (): string => process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every Redis key under a prefix (tests leave nothing behind). */
export async function clearRedisPrefix(prefix: string): Promise<void> {
  const redis = createRedis({ url: redisUrl(), name: 'latchkey-test-cleanup' });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** POSTs a GraphQL operation the way a browser client would (JSON, with the CSRF-safe content type). */
export async function gql<T = unknown>(
  server: { url: string },
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] } }> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** A server of the file's: what `startTestServer` takes, less what the fixture provides. */
export interface FixtureServerOptions extends Omit<TestServerOptions, 'databaseUrl' | 'redisPrefix'> {
  /**
   * A Redis namespace of its own under the file's prefix (`<prefix><namespace>:`), for a server whose
   * counters must not meet the others'. Without it, the file's servers share one, as instances do.
   */
  namespace?: string;
  /** Another way to the file's database: a `postgresProxy()` URL. */
  databaseUrl?: string;
}

export interface FixtureOptions {
  /**
   * Starts a Resend double (`fx.mail`): every server of the file then sends through it and runs its
   * workers (unless `workers: false`), and `entryEnv()` points spawned workers at it.
   */
  mail?: boolean;
}

/** A TCP link to the test PostgreSQL or Redis that a test can cut and restore; `url` goes through it. */
export interface ProxiedLink extends TcpProxy {
  readonly url: string;
}

/** What a test file runs against: its database, its Redis prefix, and whatever it starts on them. */
export interface TestServers {
  readonly prefix: string;
  readonly db: TestDatabase;
  /** The first server started (`useTestServer`'s). */
  readonly server: TestServer;
  /** The Resend double (with `{ mail: true }`). */
  readonly mail: ResendDouble;
  /** Another server over the file's database and prefix, closed after the file (or earlier by `close()`). */
  start(opts?: FixtureServerOptions): Promise<TestServer>;
  /** A cuttable link to the test Redis, for `REDIS_URL`. */
  redisProxy(): Promise<ProxiedLink>;
  /** A cuttable link to the file's database, for `databaseUrl`. */
  postgresProxy(): Promise<ProxiedLink>;
  /** A fresh folder, removed after the file. */
  tempDir(label: string): Promise<string>;
  /** The environment of an entry point (`src/main.ts`, `src/worker.ts`) spawned over the file's database and prefix. */
  entryEnv(extra?: Record<string, string>): Record<string, string>;
}

/** The same URL through a proxy on loopback (credentials, database and options kept). */
function via(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/**
 * The set-up of a test file that needs servers: its own database (cloned from the migrated template),
 * Redis prefix and, on request, a Resend double; servers, proxies, folders and keys are all removed
 * after the file. Use inside a `describe`; the fields exist once `beforeAll` has run.
 */
export function useTestServers(label: string, opts: FixtureOptions = {}): TestServers {
  const prefix = uniquePrefix(label);
  let db: TestDatabase | undefined;
  let double: ResendDouble | undefined;
  let secrets: Awaited<ReturnType<typeof sharedSecrets>> | undefined;
  const servers: TestServer[] = [];
  const links: TcpProxy[] = [];
  const dirs: string[] = [];
  const dataDir = join(tmpdir(), `latchkey-entry-${randomBytes(5).toString('hex')}`);
  dirs.push(dataDir);
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useTestServers: ${what} exists once beforeAll has run`);
    return value;
  };
  const link = async (url: string): Promise<ProxiedLink> => {
    const target = new URL(url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || (target.protocol.startsWith('redis') ? 6379 : 5432)));
    links.push(proxy);
    return Object.assign(proxy, { url: via(url, proxy.port) });
  };

  const fx: TestServers = {
    prefix,
    get db() {
      return ready(db, 'the database');
    },
    get server() {
      return ready(servers[0], 'a server');
    },
    get mail() {
      if (!opts.mail) throw new Error(`useTestServers('${label}') has no Resend double: pass { mail: true }`);
      return ready(double, 'the Resend double');
    },
    async start({ namespace, databaseUrl, ...server } = {}) {
      const mail = double ? { workers: server.workers ?? true, env: { ...mailEnv(double), ...server.env } } : {};
      const started = await startTestServer({
        ...server,
        ...mail,
        databaseUrl: databaseUrl ?? fx.db.url,
        redisPrefix: namespace === undefined ? prefix : `${prefix}${namespace}:`,
      });
      servers.push(started);
      return started;
    },
    redisProxy: () => link(redisUrl()),
    postgresProxy: () => link(fx.db.url),
    async tempDir(name) {
      const dir = await mkdtemp(join(tmpdir(), `latchkey-${name}-`));
      dirs.push(dir);
      return dir;
    },
    entryEnv: (extra = {}) => ({
      DATABASE_URL: fx.db.url,
      REDIS_KEY_PREFIX: prefix,
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      BCRYPT_COST: '4',
      // Not `test`: some libraries (Apollo) install signal handlers outside test mode, and they must not win.
      NODE_ENV: 'development',
      ...ready(secrets, 'the shared secrets'),
      ...(double ? mailEnv(double) : {}),
      ...extra,
    }),
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    secrets = await sharedSecrets();
    if (opts.mail) double = await startResendDouble();
  });
  afterAll(async () => {
    // Servers before the links they use; every step runs even if one fails, the first failure is reported.
    const steps = [
      ...servers.map((s) => () => s.close()),
      ...links.map((l) => () => l.close()),
      () => double?.close(),
      () => clearRedisPrefix(prefix),
      () => db?.drop(),
      ...dirs.map((d) => () => rm(d, { recursive: true, force: true })),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await Promise.resolve().then(step).catch((e: unknown) => failures.push(e));
    if (failures.length > 0) throw failures[0];
  });
  return fx;
}

/**
 * The usual set-up of a test file: `useTestServers` with one server started before the tests
 * (`opts` as for `start`). Read `fx.server` in tests.
 */
export function useTestServer(label: string, opts: FixtureServerOptions & FixtureOptions = {}): TestServers {
  const { mail, ...server } = opts;
  const fx = useTestServers(label, { mail });
  beforeAll(async () => {
    await fx.start(server);
  });
  return fx;
}
