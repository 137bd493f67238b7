import { join, resolve } from 'node:path';
import type { Config } from './config.js';
import { ensureDevSecrets } from './crypto/dev-secrets.js';
import { loadSigningKeys, type SigningKeys } from './crypto/keys.js';
import { AppSecrets } from './crypto/secrets.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { applyMigrations, createPrismaClient, type PrismaClient } from './db/index.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createRedisPubSub, pubSubLink, type PubSub, type PubSubLink } from './pubsub.js';
import { createQueueFactory, type QueueFactory } from './queue.js';
import { connectRedisOrExplain, createRedis, type Redis } from './redis.js';

/** Every shared resource of a process, built once by the composition root. */
export interface Infra {
  readonly config: Config;
  readonly log: Logger;
  readonly prisma: PrismaClient;
  /** Commands (sessions, limits, caches); fails fast while Redis is down. */
  readonly redis: Redis;
  readonly pubsub: PubSub;
  /** The subscriber connection behind `pubsub`: whether it is up, and when it drops. */
  readonly pubsubLink: PubSubLink;
  readonly queues: QueueFactory;
  readonly metrics: Metrics;
  readonly keys: SigningKeys;
  readonly appSecret: string;
  /** APP_SECRET and APP_SECRET_PREVIOUS: the key rings every derived key comes from. */
  readonly appSecrets: AppSecrets;
  /** The PostgreSQL actually in use (DATABASE_URL, or the embedded one). */
  readonly databaseUrl: string;
  close(): Promise<void>;
}

export async function startInfra(config: Config, log: Logger, opts: { migrate?: boolean } = {}): Promise<Infra> {
  const dataDir = resolve(config.dataDir);
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((err: unknown) => log.warn({ err }, 'close failed'));
  };
  try {
    let { jwtPrivateKeys, appSecret } = config.secrets;
    if (!jwtPrivateKeys || !appSecret) {
      // Production refuses to get here without both (config.ts); development keeps generated ones.
      const dev = await ensureDevSecrets(dataDir);
      if (dev.created.length > 0) log.info({ files: dev.created }, 'generated development secrets');
      jwtPrivateKeys ??= dev.jwtPrivateKeys;
      appSecret ??= dev.appSecret;
    }
    const keys = await loadSigningKeys(jwtPrivateKeys);

    const redis = createRedis({ url: config.redis.url, name: 'latchkey' });
    await connectRedisOrExplain(redis, config.redis.url);
    closers.push(() => redis.quit());
    const subscriber = createRedis({ url: config.redis.url, name: 'latchkey-sub', failFast: false, maxRetriesPerRequest: null });
    await subscriber.connect();
    closers.push(async () => subscriber.disconnect());
    const bull = createRedis({ url: config.redis.url, name: 'latchkey-bullmq', failFast: false, maxRetriesPerRequest: null, lazy: false });
    closers.push(async () => bull.disconnect());

    let databaseUrl = config.db.url;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres(join(dataDir, 'postgres'), log);
      closers.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    if (opts.migrate !== false) {
      const { applied } = await applyMigrations(databaseUrl, log);
      if (applied.length > 0) log.info({ applied }, 'applied migrations');
    }
    const prisma = createPrismaClient(databaseUrl);
    closers.push(() => prisma.$disconnect());

    const queues = createQueueFactory(bull, config.redis.keyPrefix, { lockMs: config.jobs.lockMs });
    closers.push(() => queues.close());

    return {
      config,
      log,
      prisma,
      redis,
      pubsub: createRedisPubSub(redis, subscriber, config.redis.keyPrefix),
      pubsubLink: pubSubLink(subscriber),
      queues,
      metrics: createMetrics(),
      keys,
      appSecret,
      appSecrets: new AppSecrets(appSecret, config.secrets.appSecretPrevious),
      databaseUrl,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
