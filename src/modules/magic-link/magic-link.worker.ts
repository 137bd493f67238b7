import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import { UnreadableMagicLinkRequestError, type MagicLinkService } from './magic-link.service.js';

/**
 * Runs magic-link requests. Neither the log nor Redis names the address, and the job returns nothing: a
 * stored return value (BullMQ keeps it in its events stream) would tell which addresses have accounts.
 */
export function startMagicLinkWorker(queues: QueueFactory, magicLink: MagicLinkService, log: Logger) {
  return queues.worker('magic-link', async (job) => {
    if (!job.id) throw new UnrecoverableError('a magic-link job needs its outbox row id as job id');
    let outcome: Awaited<ReturnType<MagicLinkService['handleRequest']>>;
    try {
      outcome = await magicLink.handleRequest(job.id, job.data);
    } catch (err) {
      // An address that cannot be opened (another APP_SECRET) never will be.
      if (err instanceof UnreadableMagicLinkRequestError) throw new UnrecoverableError(err.message);
      throw err;
    }
    log.info({ jobId: job.id, outcome }, 'magic-link request handled');
  });
}
