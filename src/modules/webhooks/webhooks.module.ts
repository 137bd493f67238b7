import type { Config } from '../../infra/config.js';
import type { QueueFactory } from '../../infra/queue.js';
import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { WebhooksResolver } from './webhooks.resolver.js';
import type { WebhooksService } from './webhooks.service.js';
import { SWEEP_EVERY_MS } from './webhook-hold.js';
import { probeProcessor, webhookProcessor, type WebhookWorkerDeps } from './webhooks.worker.js';

declare module '../../infra/queue.js' {
  interface JobMap {
    /** One attempt of one stored webhook delivery (the row holds the body; the endpoint's secret is sealed). */
    'webhook-delivery': { deliveryId: string; endpointId: string };
    /** A held endpoint's probe, or the periodic sweep of holds a crash left half-done. */
    'webhook-probe': { endpointId: string } | { sweep: true };
  }
}

/** No answer within this long is a failed attempt (Standard Webhooks receivers answer at once and work later). */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * Attempts one worker process runs at once, over every endpoint. Deliveries wait on the network, not the CPU,
 * and the per-endpoint gates keep any one receiver to a few of these slots.
 */
export const WEBHOOK_CONCURRENCY = 64;

type WebhooksWiring = {
  webhooks: WebhooksService;
  webhookWorker: WebhookWorkerDeps;
  auth: AuthGuard;
  queues: QueueFactory;
  config: Config;
};

/** Signed webhooks (Standard Webhooks): endpoints for ADMINs, deliveries fanned out from the audit log's commits. */
export const webhooksModule: Feature<WebhooksWiring> = {
  name: 'webhooks',
  resolvers: [resolver(WebhooksResolver, (w) => new WebhooksResolver(w.webhooks, w.auth))],
  workers: [
    (w) => w.queues.worker('webhook-delivery', webhookProcessor(w.webhookWorker), { concurrency: WEBHOOK_CONCURRENCY }),
    async (w) => {
      // A scheduler, not a timer per process: N workers sweep once per period.
      await w.queues.queue('webhook-probe').upsertJobScheduler('webhook-sweep', { every: SWEEP_EVERY_MS }, { name: 'sweep', data: { sweep: true }, opts: { removeOnComplete: true, removeOnFail: { count: 100 } } });
      return w.queues.worker('webhook-probe', probeProcessor(w.webhookWorker), { concurrency: 8 });
    },
  ],
  // Each attempt is on its delivery's row (webhookDeliveries): the log keeps only a delivery's final failure.
  jobs: { 'webhook-delivery': { viaOutbox: true, quietRetries: true }, 'webhook-probe': { viaOutbox: false } },
};
