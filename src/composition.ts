import type { AppDeps } from './app.js';
import type { Infra } from './infra/runtime.js';
import { pingRedis } from './infra/redis.js';
import { HealthResolver } from './modules/health/health.resolver.js';
import { HealthService } from './modules/health/health.service.js';
import { MaintenanceRepository } from './modules/maintenance/maintenance.repository.js';
import { startMaintenanceWorker } from './modules/maintenance/maintenance.worker.js';

/**
 * The one place that wires services to infrastructure and to their doors (kratos' registry idea,
 * without a container): each service gets the narrow dependencies it declares.
 */
export function buildServices(infra: Infra) {
  const health = new HealthService({
    postgres: () => infra.prisma.$queryRaw`SELECT 1`,
    redis: () => pingRedis(infra.redis),
  });
  return { health };
}

export type Services = ReturnType<typeof buildServices>;

export function appDeps(infra: Infra, services: Services): AppDeps {
  return {
    config: infra.config,
    log: infra.log,
    metrics: infra.metrics,
    keys: infra.keys,
    health: services.health,
    resolvers: [new HealthResolver(services.health)],
    restRoutes: [],
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
