import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { Limits } from '../../infra/rate-limit.js';
import { resolver, type Feature } from '../feature.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { magicLinkRequestLimit } from './magic-link.limits.js';
import { MagicLinkResolver } from './magic-link.resolver.js';
import { magicLinkRoutes } from './magic-link.routes.js';
import type { MagicLinkService } from './magic-link.service.js';
import { magicLinkTemplate } from './magic-link.template.js';
import { startMagicLinkWorker } from './magic-link.worker.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /**
     * A magic-link request for a submitted address, known or not: the worker decides whether to mail. The
     * address is sealed (AES-GCM, bound to the job id, which is its outbox row's id).
     */
    'magic-link': { sealedEmail: string };
  }
}

/** Sign-in by a link sent by email: the request (answered alike for any address), the worker, the sign-in. */
export const magicLinkModule: Feature<{ magicLink: MagicLinkService; sessionCookies: SessionCookies; limits: Limits; queues: QueueFactory; log: Logger }> = {
  name: 'magic-link',
  resolvers: [resolver(MagicLinkResolver, (w) => new MagicLinkResolver(w.magicLink, w.sessionCookies))],
  routes: (w) => [magicLinkRoutes(w.magicLink, w.sessionCookies, w.limits)],
  workers: [(w) => startMagicLinkWorker(w.queues, w.magicLink, w.log)],
  jobs: { 'magic-link': { viaOutbox: true } },
  limits: { magicLinkRequest: magicLinkRequestLimit },
  templates: [magicLinkTemplate],
};
