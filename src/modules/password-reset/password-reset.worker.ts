import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import { UnreadableRequestError, type PasswordResetService } from './password-reset.service.js';

/**
 * Runs reset requests. Neither the log nor Redis names the address, and the job returns nothing: a
 * stored return value (BullMQ keeps it in its events stream) would tell which addresses have accounts.
 */
export function startPasswordResetWorker(queues: QueueFactory, reset: PasswordResetService, log: Logger) {
  return queues.worker('password-reset', async (job) => {
    if (!job.id) throw new UnrecoverableError('a password-reset job needs its outbox row id as job id');
    let outcome: Awaited<ReturnType<PasswordResetService['handleRequest']>>;
    try {
      outcome = await reset.handleRequest(job.id, job.data);
    } catch (err) {
      // An address that cannot be opened (another APP_SECRET, or a job from before sealing) never will be.
      if (err instanceof UnreadableRequestError) throw new UnrecoverableError(err.message);
      throw err;
    }
    log.info({ jobId: job.id, outcome }, 'password reset request handled');
  });
}
