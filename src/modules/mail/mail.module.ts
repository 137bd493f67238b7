import type { Config } from '../../infra/config.js';
import type { Logger } from '../../infra/logger.js';
import type { MailRenderer } from '../../infra/mail/render.js';
import type { MailSender } from '../../infra/mail/sender.js';
import type { Metrics } from '../../infra/metrics.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { Feature } from '../feature.js';
import type { MailRepository } from './mail.repository.js';
import type { MailService } from './mail.service.js';
import { emailProcessor } from './mail.worker.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /** Renders and sends one stored email (the row holds everything, secrets sealed). */
    email: { emailMessageId: string };
  }
}

type MailWiring = {
  mail: MailService;
  mailRepo: MailRepository;
  sender: MailSender;
  renderer: MailRenderer;
  queues: QueueFactory;
  config: Config;
  log: Logger;
  metrics: Metrics;
};

/** Delivery of every module's email: one stored row per mail, sent by the worker, retried, never twice. */
export const mailModule: Feature<MailWiring> = {
  name: 'mail',
  workers: [
    (w) =>
      w.queues.worker(
        'email',
        emailProcessor({ repo: w.mailRepo, mail: w.mail, sender: w.sender, renderer: w.renderer, from: w.config.mail.from, log: w.log, metrics: w.metrics }),
        { concurrency: 8 },
      ),
  ],
  jobs: { email: { viaOutbox: true } },
};
