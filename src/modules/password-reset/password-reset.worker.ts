import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { PasswordResetService } from './password-reset.service.js';

/** Runs reset requests; the log names no address, so it cannot become an account-enumeration oracle. */
export function startPasswordResetWorker(queues: QueueFactory, reset: PasswordResetService, log: Logger) {
  return queues.worker('password-reset', async (job) => {
    const outcome = await reset.handleRequest(job.data);
    log.info({ jobId: job.id, outcome }, 'password reset request handled');
    return outcome;
  });
}
