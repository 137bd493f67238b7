import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { AuditRetention } from '../audit/audit-retention.js';
import type { Feature } from '../feature.js';
import type { MaintenanceRepository } from './maintenance.repository.js';
import { startMaintenanceWorker } from './maintenance.worker.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /** Deletes expired sessions, refresh tokens and one-time tokens, and audit entries past retention. */
    maintenance: { task: 'purge-expired' };
  }
}

/** The hourly purge of expired credentials and of audit entries past retention. */
export const maintenanceModule: Feature<{ maintenance: MaintenanceRepository; queues: QueueFactory; log: Logger; auditRetention: AuditRetention }> = {
  name: 'maintenance',
  workers: [(w) => startMaintenanceWorker(w.queues, w.maintenance, w.log, w.auditRetention)],
  jobs: { maintenance: { viaOutbox: false } },
};
