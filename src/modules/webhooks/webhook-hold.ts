import { randomUUID } from 'node:crypto';
import type { Outbox, OutboxRelay } from '../../infra/outbox/outbox.js';
import type { Logger } from '../../infra/logger.js';
import type { QueueFactory } from '../../infra/queue.js';
import type { WebhooksRepository } from './webhooks.repository.js';

export interface HoldOptions {
  /** The first wait of a hold (then doubling per failed probe, up to `maxMs`). */
  baseMs: number;
  maxMs: number;
}

/** How long a probe owns its endpoint's hold: past the request deadline, so a probe that dies frees it. */
export const PROBE_LEASE_MS = 30_000;

/** The sweep (a repeatable job) repairs what a crash between two steps left: this often, this late. */
export const SWEEP_EVERY_MS = 30_000;
const SWEEP_GRACE_MS = 5_000;

/**
 * An open circuit shared by every worker, in PostgreSQL. While an endpoint is held, its new deliveries
 * wait as rows (PENDING, `held`, no BullMQ job each) and a job that comes up for it ends without an
 * attempt; one probe job per endpoint sends the oldest held delivery when the wait ends. A probe that
 * gets a 2xx releases every held delivery, oldest first, through the outbox and the normal queue (so the
 * per-endpoint limits apply); a failed one doubles the wait. Every step is one transaction or one
 * conditional statement; the sweep finds what a crash between them left behind.
 */
export class DeliveryHold {
  constructor(
    private readonly deps: {
      repo: WebhooksRepository;
      outbox: Pick<Outbox, 'addMany'>;
      relay: Pick<OutboxRelay, 'nudge'>;
      queues: Pick<QueueFactory, 'queue'>;
      log: Pick<Logger, 'info'>;
      opts: HoldOptions;
    },
  ) {}

  get baseMs(): number {
    return this.deps.opts.baseMs;
  }

  /** Holds the endpoint for `forMs` unless it is held already; the one call that starts a hold schedules its probe. */
  async open(endpointId: string, forMs: number): Promise<void> {
    const until = new Date(Date.now() + forMs);
    if (!(await this.deps.repo.holdEndpoint(endpointId, until))) return;
    this.deps.log.info({ endpointId, forMs }, 'webhook endpoint held: its deliveries wait for a probe');
    await this.scheduleProbe(endpointId, until);
  }

  /** A failed probe (the `probes`-th in a row before it): held twice as long again. */
  async extend(endpointId: string, probes: number): Promise<Date> {
    const until = this.nextWait(probes);
    await this.deps.repo.holdLonger(endpointId, until);
    await this.scheduleProbe(endpointId, until);
    return until;
  }

  /** When the probe after `probes` failed ones comes. */
  nextWait(probes: number): Date {
    const { baseMs, maxMs } = this.deps.opts;
    return new Date(Date.now() + Math.min(maxMs, baseMs * 2 ** Math.min(20, probes + 1)));
  }

  /** Ends the hold and queues every held delivery, oldest first, in one transaction. How many were released. */
  async release(endpointId: string): Promise<number> {
    const ids = await this.deps.repo.transaction(async (tx) => {
      const released = await this.deps.repo.endHold(tx, endpointId);
      // Oldest first: the relay hands rows to BullMQ in `available_at` order.
      const base = Date.now() - released.length;
      await this.deps.outbox.addMany(
        'webhook-delivery',
        released.map((id, i) => ({ id: randomUUID(), payload: { deliveryId: id, endpointId }, availableAt: new Date(base + i) })),
        tx,
      );
      return released;
    });
    if (ids.length > 0) this.deps.relay.nudge();
    this.deps.log.info({ endpointId, released: ids.length }, 'webhook endpoint released: its held deliveries are queued');
    return ids.length;
  }

  /** A disabled endpoint: the hold ends and its held deliveries are FAILED, as its pending ones are. */
  async abandon(endpointId: string): Promise<void> {
    await this.deps.repo.transaction((tx) => this.deps.repo.endHold(tx, endpointId, 'endpoint disabled'));
  }

  /** Repairs after a crash: held deliveries without a hold are released; an overdue hold gets its probe. */
  async sweep(): Promise<{ released: number; probed: number }> {
    const { orphaned, overdue } = await this.deps.repo.sweepTargets(SWEEP_GRACE_MS);
    let released = 0;
    for (const id of orphaned) released += await this.release(id);
    for (const e of overdue) await this.scheduleProbe(e.id, e.heldUntil);
    return { released, probed: overdue.length };
  }

  /** One probe job per endpoint and hold time (the job id dedupes a sweep's copy); due at `at`. */
  private async scheduleProbe(endpointId: string, at: Date): Promise<void> {
    await this.deps.queues
      .queue('webhook-probe')
      .add('probe', { endpointId }, { jobId: `probe-${endpointId}-${at.getTime()}`, delay: Math.max(0, at.getTime() - Date.now()), attempts: 3, removeOnComplete: true, removeOnFail: { count: 100 } });
  }
}
