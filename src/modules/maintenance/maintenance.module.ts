import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { Feature } from '../feature.js';
import type { MaintenanceRepository } from './maintenance.repository.js';
import { startMaintenanceWorker } from './maintenance.worker.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /** Deletes expired sessions, refresh tokens and one-time tokens. */
    maintenance: { task: 'purge-expired' };
  }
}

/** The hourly purge of expired credentials. */
export const maintenanceModule: Feature<{ maintenance: MaintenanceRepository; queues: QueueFactory; log: Logger }> = {
  name: 'maintenance',
  workers: [(w) => startMaintenanceWorker(w.queues, w.maintenance, w.log)],
  jobs: { maintenance: { viaOutbox: false } },
};
