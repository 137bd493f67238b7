import type { AppDeps } from './app.js';
import { deriveKey } from './infra/crypto/secrets.js';
import type { Infra } from './infra/runtime.js';
import { pingRedis } from './infra/redis.js';
import { AccountsRepository } from './modules/accounts/accounts.repository.js';
import { AccountsResolver } from './modules/accounts/accounts.resolver.js';
import { accountsRoutes } from './modules/accounts/accounts.routes.js';
import { AccountsService } from './modules/accounts/accounts.service.js';
import { PasswordHasher } from './modules/accounts/password.js';
import { preloadCommonPasswords } from './modules/accounts/password-policy.js';
import { HealthResolver } from './modules/health/health.resolver.js';
import { HealthService } from './modules/health/health.service.js';
import { MaintenanceRepository } from './modules/maintenance/maintenance.repository.js';
import { startMaintenanceWorker } from './modules/maintenance/maintenance.worker.js';
import { AccessTokens } from './modules/sessions/access-token.js';
import { AuthGuard } from './modules/sessions/auth.guard.js';
import { SessionCache } from './modules/sessions/session-cache.js';
import { SessionsRepository } from './modules/sessions/sessions.repository.js';
import { SessionsResolver } from './modules/sessions/sessions.resolver.js';
import { sessionsRoutes } from './modules/sessions/sessions.routes.js';
import { SessionsService } from './modules/sessions/sessions.service.js';

/**
 * The one place that wires services to infrastructure and to their doors (kratos' registry idea,
 * without a container): each service gets the narrow dependencies it declares.
 */
export function buildServices(infra: Infra) {
  const { config, prisma, redis, log } = infra;
  const health = new HealthService({
    postgres: () => prisma.$queryRaw`SELECT 1`,
    redis: () => pingRedis(redis),
  });
  const tokens = new AccessTokens(infra.keys, { issuer: config.http.publicUrl, ttlSeconds: config.auth.accessTokenTtl });
  const sessions = new SessionsService({
    repo: new SessionsRepository(prisma),
    // A revoked marker outlives every access token of the session (plus clock skew).
    cache: new SessionCache(redis, config.redis.keyPrefix, config.auth.accessTokenTtl + 60),
    tokens,
    log,
    refreshTtlSeconds: config.auth.refreshTokenTtl,
    idleTtlSeconds: config.auth.sessionIdleTtl,
  });
  const hasher = new PasswordHasher({ pepper: deriveKey(infra.appSecret, 'password-pepper'), cost: config.auth.bcryptCost });
  const accounts = new AccountsService({
    repo: new AccountsRepository(prisma),
    sessions,
    hasher,
    passwordMinLength: config.auth.passwordMinLength,
  });
  return { health, tokens, sessions, hasher, accounts, auth: new AuthGuard(sessions) };
}

export type Services = ReturnType<typeof buildServices>;

/** Loads what the first request would otherwise pay for (the dummy hash: its timing must match a real one). */
export async function warmUp(services: Services): Promise<void> {
  preloadCommonPasswords();
  await services.hasher.warmUp();
}

export function appDeps(infra: Infra, s: Services): AppDeps {
  return {
    config: infra.config,
    log: infra.log,
    metrics: infra.metrics,
    keys: infra.keys,
    health: s.health,
    resolvers: [new HealthResolver(s.health), new AccountsResolver(s.accounts, s.auth), new SessionsResolver(s.sessions, s.accounts, s.auth)],
    restRoutes: [accountsRoutes(s.accounts), sessionsRoutes(s.sessions, s.accounts)],
  };
}

/** Every BullMQ worker of the process; `close()` lets running jobs finish. */
export async function startWorkers(infra: Infra) {
  const workers = [await startMaintenanceWorker(infra.queues, new MaintenanceRepository(infra.prisma), infra.log)];
  for (const w of workers) {
    w.on('failed', (job, err) => {
      infra.metrics.jobs.inc({ queue: w.name, outcome: 'failed' });
      infra.log.error({ err, jobId: job?.id, queue: w.name }, 'job failed');
    });
    w.on('completed', () => infra.metrics.jobs.inc({ queue: w.name, outcome: 'completed' }));
    w.on('error', (err) => infra.log.warn({ err, queue: w.name }, 'worker error'));
  }
  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
