import type { Logger } from '../../infra/logger.js';
import type { Limits } from '../../infra/rate-limit.js';
import type { QueueFactory } from '../../infra/queue.js';
import { resolver, type Feature } from '../feature.js';
import { passwordChangedTemplate } from './password-changed.template.js';
import { resetRequestLimit } from './password-reset.limits.js';
import { PasswordResetResolver } from './password-reset.resolver.js';
import { passwordResetRoutes } from './password-reset.routes.js';
import type { PasswordResetService } from './password-reset.service.js';
import { startPasswordResetWorker } from './password-reset.worker.js';
import { resetPasswordTemplate } from './reset-password.template.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /**
     * A password-reset request for a submitted address, known or not: the worker decides whether to mail.
     * The address is sealed (AES-GCM, bound to the job id, which is its outbox row's id): neither Redis
     * nor the outbox row holds it in clear. So is its origin (IP, user agent, request id: for the audit
     * entry the worker writes); jobs queued before origins were sealed have none.
     */
    'password-reset': { sealedEmail: string; sealedOrigin?: string };
  }
}

/** Password reset by email: the request (answered alike for any address), the worker, the confirmation. */
export const passwordResetModule: Feature<{ passwordReset: PasswordResetService; limits: Limits; queues: QueueFactory; log: Logger }> = {
  name: 'password-reset',
  resolvers: [resolver(PasswordResetResolver, (w) => new PasswordResetResolver(w.passwordReset))],
  routes: (w) => [passwordResetRoutes(w.passwordReset, w.limits)],
  workers: [(w) => startPasswordResetWorker(w.queues, w.passwordReset, w.log)],
  jobs: { 'password-reset': { viaOutbox: true } },
  limits: { resetRequest: resetRequestLimit },
  templates: [resetPasswordTemplate, passwordChangedTemplate],
};
