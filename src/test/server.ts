import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { buildApp, type App } from '../app.js';
import { appDeps, buildServices, prepareStart, startRelay, startWorkers, warmUp, type Services } from '../composition.js';
import { loadConfig, type Config } from '../infra/config.js';
import { generateSigningJwk } from '../infra/crypto/keys.js';
import { createLogger } from '../infra/logger.js';
import { startInfra, type Infra } from '../infra/runtime.js';
import { startMetricsListener } from '../modules/health/metrics-endpoint.js';

export interface TestServer {
  readonly url: string;
  readonly wsUrl: string;
  readonly app: App;
  readonly infra: Infra;
  readonly config: Config;
  readonly services: Services;
  /** The BullMQ workers, when started (diagnostics). */
  readonly workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
  /** Every log line this instance wrote, as JSON text: tests grep it for secrets. */
  readonly logs: string[];
  /** The metrics listener's `/metrics` URL when `METRICS_PORT` is set (`0`: any free port). */
  readonly metricsUrl: string | undefined;
  /** Stops it and removes its data folder; calling it again waits for the same close. */
  close(): Promise<void>;
}

export interface TestServerOptions {
  databaseUrl: string;
  /** Shared by instances that must see each other (pub/sub across instances); unique per file otherwise. */
  redisPrefix?: string;
  env?: Record<string, string>;
  workers?: boolean;
  /** Extra REST routes mounted like a feature's, for plumbing tests. */
  restRoutes?: FastifyPluginAsync[];
  /** Where to listen (a loopback address). @default 127.0.0.1 */
  host?: string;
  /** Port to listen on (a browser test whose PUBLIC_URL must be the very address it opens). @default a free one */
  port?: number;
}

export const uniquePrefix = (label = 't') => `test:${label}:${randomBytes(5).toString('hex')}:`;

export const GENEROUS_LIMITS = Object.fromEntries(
  ['LOGIN', 'LOGIN_IP', 'REGISTER', 'RESET_REQUEST', 'VERIFY_RESEND', 'REFRESH', 'MFA', 'GENERAL', 'REAUTH', 'ADMIN', 'MAGIC_LINK_REQUEST', 'PASSKEY_LOGIN', 'PASSKEY_CHALLENGE', 'INTROSPECT'].map((n) => [`RATE_LIMIT_${n}`, '100000/60']),
);

/** The documented default limits (README "Abuse protection"), for the tests that assert them. */
export const DEFAULT_LIMITS: Record<string, string> = {
  RATE_LIMIT_LOGIN: '10/900',
  RATE_LIMIT_LOGIN_IP: '100/900',
  RATE_LIMIT_REGISTER: '30/300',
  RATE_LIMIT_RESET_REQUEST: '5/3600',
  RATE_LIMIT_MAGIC_LINK_REQUEST: '5/3600',
  RATE_LIMIT_VERIFY_RESEND: '5/3600',
  RATE_LIMIT_REFRESH: '600/60',
  RATE_LIMIT_GENERAL: '1200/60',
};

const SHARED_APP_SECRET = randomBytes(32).toString('base64');
let sharedKeys: string | undefined;
async function testKeys() {
  sharedKeys ??= JSON.stringify({ keys: [await generateSigningJwk()] });
  return sharedKeys;
}

/** The master secret and signing keys every server of this test process uses: a spawned entry point gets them too. */
export const sharedSecrets = async (): Promise<{ APP_SECRET: string; JWT_PRIVATE_KEYS: string }> => ({
  APP_SECRET: SHARED_APP_SECRET,
  JWT_PRIVATE_KEYS: await testKeys(),
});

/** A real server on a random port over the test file's own database and Redis prefix. */
export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: opts.databaseUrl,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: opts.redisPrefix ?? uniquePrefix(),
    BCRYPT_COST: '4',
    JWT_PRIVATE_KEYS: await testKeys(),
    // One per test process, like the keys: instances sharing a database must share the pepper.
    APP_SECRET: SHARED_APP_SECRET,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'debug',
    // Functional tests sign up and in far more than one person would from one IP; the security tests
    // (which assert the limits) pass the documented defaults back in through `env`.
    ...GENEROUS_LIMITS,
    ...opts.env,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = createLogger({ level: config.log.level, destination });
  const infra = await startInfra(config, log, { migrate: false });
  const services = buildServices(infra);
  await warmUp(services);
  await prepareStart(services);
  const deps = appDeps(infra, services);
  deps.restRoutes.push(...(opts.restRoutes ?? []));
  const app = await buildApp(deps);
  const host = opts.host ?? '127.0.0.1';
  await app.fastify.listen({ port: opts.port ?? 0, host });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const metricsListener = await startMetricsListener(config, infra.metrics.registry, log);
  const relay = await startRelay(services);
  const workers = opts.workers ? await startWorkers(infra, services) : undefined;
  const address = app.fastify.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const scheme = config.http.tls ? 'https' : 'http';
  let closed: Promise<void> | undefined;
  return {
    url: `${scheme}://${urlHost}:${port}`,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://${urlHost}:${port}/graphql`,
    app,
    infra,
    config,
    services,
    workers,
    logs,
    metricsUrl: metricsListener?.url,
    close() {
      closed ??= (async () => {
        await app.close(1_000);
        await metricsListener?.close(1_000);
        await relay.stop();
        await workers?.close();
        await infra.close();
        await rm(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

