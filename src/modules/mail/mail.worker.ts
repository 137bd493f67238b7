import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../../infra/logger.js';
import { PermanentMailError, type MailSender } from '../../infra/mail/sender.js';
import type { MailRenderer, TemplateData, TemplateName } from '../../infra/mail/render.js';
import type { Metrics } from '../../infra/metrics.js';
import type { JobMap } from '../../infra/queue.js';
import type { MailRepository } from './mail.repository.js';
import type { MailService } from './mail.service.js';

export interface MailWorkerDeps {
  repo: MailRepository;
  mail: MailService;
  sender: MailSender;
  /** Every template of every module (the composition root gathers them). */
  renderer: MailRenderer;
  from: string;
  log: Logger;
  metrics: Metrics;
}

/**
 * Sends one stored email. Every attempt uses the row's idempotency key, so a retry after a timeout that
 * did reach the provider is not a second email. Retriable failures throw (BullMQ backs off and retries);
 * the last attempt, or a permanent refusal, marks the email FAILED: visible in logs, metrics and the row.
 */
export function emailProcessor(deps: MailWorkerDeps) {
  return async (job: Job<JobMap['email']>) => {
    const row = await deps.repo.find(job.data.emailMessageId);
    if (!row || row.status !== 'QUEUED') return { skipped: row?.status ?? 'missing' };
    const data = deps.mail.open(row.id, row.data);
    const rendered = deps.renderer.render(row.template as TemplateName, data as unknown as TemplateData[TemplateName]);
    try {
      const { providerId } = await deps.sender.send({
        to: row.toAddress,
        from: deps.from,
        subject: rendered.subject,
        html: rendered.html,
        text: rendered.text,
        idempotencyKey: row.idempotencyKey,
        tags: [{ name: 'template', value: row.template }],
      });
      await deps.repo.markSent(row.id, providerId);
      deps.metrics.emails.inc({ template: row.template, outcome: 'sent' });
      deps.log.info({ emailId: row.id, template: row.template, providerId, attempt: job.attemptsMade + 1 }, 'email sent');
      return { providerId };
    } catch (err) {
      const permanent = err instanceof PermanentMailError;
      const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const reason = err instanceof Error ? err.message : String(err);
      await deps.repo.markAttemptFailed(row.id, reason, final);
      if (final) {
        deps.metrics.emails.inc({ template: row.template, outcome: 'failed' });
        deps.log.error({ emailId: row.id, template: row.template, attempts: job.attemptsMade + 1, reason }, 'email failed after its last attempt');
      } else {
        deps.metrics.emails.inc({ template: row.template, outcome: 'retried' });
        deps.log.warn({ emailId: row.id, template: row.template, attempt: job.attemptsMade + 1, reason }, 'email attempt failed; will retry');
      }
      throw permanent ? new UnrecoverableError(reason) : err;
    }
  };
}
