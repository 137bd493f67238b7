import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { AuditRetention } from '../audit/audit-retention.js';
import type { MaintenanceRepository } from './maintenance.repository.js';

export const PURGE_EVERY_MS = 3_600_000;

/**
 * Hourly clean-up of expired credentials and of audit entries past AUDIT_RETENTION_DAYS; a scheduler (not
 * a cron per instance) so N workers run it once.
 */
export async function startMaintenanceWorker(queues: QueueFactory, repo: MaintenanceRepository, log: Logger, audit: Pick<AuditRetention, 'purge'>) {
  await queues.queue('maintenance').upsertJobScheduler('purge-expired', { every: PURGE_EVERY_MS }, {
    name: 'purge-expired',
    data: { task: 'purge-expired' },
    // Unlike other jobs, the last day of runs stays visible (row counts only, nothing personal).
    opts: { removeOnComplete: { count: 24 } },
  });
  return queues.worker(
    'maintenance',
    async (job) => {
      const now = new Date();
      const purged = { ...(await repo.purgeExpired(now)), auditEntries: await audit.purge(now) };
      log.info({ jobId: job.id, ...purged }, 'purged expired credentials and audit entries past retention');
      return purged;
    },
    { concurrency: 1 },
  );
}
