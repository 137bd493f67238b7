import pg from 'pg';
import type { Logger } from '../../infra/logger.js';
import type { Message, PubSub } from '../../infra/pubsub.js';
import { withTimeout } from '../../infra/redis.js';
import { BackgroundPass, type PassSpacing } from '../../infra/background-pass.js';
import type { SecurityEventsRepository, StoredSecurityEvent } from './security-events.repository.js';

/** The NOTIFY channel the `security_events` trigger signals on commit (see its migration). */
export const NOTIFY_CHANNEL = 'latchkey_security_events';

const FLUSH_DELAY_MS = 5;
/**
 * Users' clients show "new sign-in" live: under a steady stream of commits, passes start 100 ms apart (the
 * added delay of an event stays within a tenth of a second), so at ~30 sign-ins a second each pass carries
 * a few events for its one statement. An idle service publishes within FLUSH_DELAY_MS.
 */
export const EVENTS_SPACING: PassSpacing = { minMs: 100, perPass: 4, maxMs: 100 };
/** Rows per lease. */
const BATCH = 200;
/**
 * How long leased rows are hidden from other publishers: far beyond a batch's publish deadline (2 s), so
 * a live publisher never loses its rows to another; the delay a crashed publisher's rows wait for.
 */
const LEASE_SECONDS = 30;

/** Event types that end a session: every instance closes that session's sockets when it sees one. */
const ENDS_SESSION = new Set(['SIGNED_OUT', 'SESSION_REVOKED', 'REFRESH_TOKEN_REUSED']);

export const toTopicPayload = (e: StoredSecurityEvent) => ({
  id: e.id,
  type: e.type,
  occurredAt: e.occurredAt.toISOString(),
  sessionId: e.sessionId,
  ip: e.ip,
  userAgent: e.userAgent,
  readAt: e.readAt ? e.readAt.toISOString() : null,
});

/**
 * Pushes stored security events to Redis pub/sub, so subscribers on every instance receive them.
 * It wakes on PostgreSQL NOTIFY (sent only when the event's transaction commits) and also sweeps on a
 * timer, so a missed notification or a Redis outage delays an event but never loses it (at-least-once:
 * clients may dedupe by `id`). Rows are leased, not locked: no transaction is open while Redis answers.
 */
export class SecurityEventPublisher {
  private listener: pg.Client | undefined;
  private stopped = true;
  private readonly loop: BackgroundPass;
  /** Events published but not yet marked: the next lease marks them (see publishBatch). */
  private unmarked: string[] = [];

  constructor(
    private readonly repo: SecurityEventsRepository,
    private readonly pubsub: PubSub,
    private readonly databaseUrl: string,
    private readonly log: Logger,
    sweepMs = 1_000,
  ) {
    // Published rows are marked by the next pass, woken or the sweep: well inside their lease.
    if (sweepMs * 2 > LEASE_SECONDS * 1_000) throw new Error('SecurityEventPublisher: the sweep must run well within the lease');
    // Commits within a few milliseconds share one pass (a burst of sign-ins is one publish round).
    this.loop = new BackgroundPass(() => this.pass(), { sweepMs, gatherMs: FLUSH_DELAY_MS, spacing: EVENTS_SPACING });
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listen();
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.stop();
    // What was published since the last lease: marked now, so a restart does not send it again.
    const unmarked = this.unmarked;
    this.unmarked = [];
    await this.repo.markPublished(unmarked).catch((err: unknown) => this.log.warn({ err }, 'security events: could not mark the last published events; they will be sent again'));
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  private async pass(): Promise<void> {
    try {
      while ((await this.publishBatch()) === BATCH) {
        // A full batch: more may be waiting.
      }
    } catch (err) {
      this.log.warn({ err }, 'security events: publish failed; will retry from the stored rows');
    }
  }

  /**
   * One batch: mark the previous batch published and lease the next rows (one short statement), publish
   * them with no transaction open; their mark rides on the next lease, of the next pass under load, or of
   * the sweep (at most `sweepMs` later, while the rows are still leased: no other publisher takes them).
   * No PostgreSQL lock or connection is held while Redis answers, however slowly. Dying after the lease
   * only delays the rows until it runs out; dying after the publish, before the next lease, re-publishes
   * them once their lease runs out (clients dedupe by `id`). Returns how many rows it leased.
   */
  private async publishBatch(): Promise<number> {
    const published = this.unmarked;
    const { events, leasedUntil } = await this.repo.lease(BATCH, LEASE_SECONDS, published);
    if (this.unmarked === published) this.unmarked = []; // marked; on a failed lease they stay for the next
    if (events.length === 0 || leasedUntil === null) return 0;
    const ids = events.map((e) => e.id);
    try {
      await this.publish(events);
    } catch (err) {
      await this.repo.release(ids, leasedUntil).catch(() => undefined);
      throw err;
    }
    this.unmarked = ids;
    return events.length;
  }

  private async publish(events: StoredSecurityEvent[]): Promise<void> {
    const messages: Message[] = [];
    for (const e of events) {
      messages.push({ topic: 'securityEvent', id: e.userId, payload: toTopicPayload(e) });
      if (e.sessionId && ENDS_SESSION.has(e.type)) messages.push({ topic: 'sessionEnded', id: 'all', payload: { sessionId: e.sessionId, reason: e.type } });
    }
    await withTimeout(this.pubsub.publishAll(messages), 2_000);
  }

  /** A dedicated connection for LISTEN; reconnects with back-off, and sweeps when it comes back. */
  private async listen(attempt = 0): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'latchkey-events-listener' });
    client.on('notification', () => this.loop.wake());
    client.on('error', (err) => {
      this.log.warn({ err }, 'security events: LISTEN connection lost; reconnecting');
      client.end().catch(() => undefined);
      if (this.listener === client) this.listener = undefined;
      const delay = Math.min(10_000, 250 * 2 ** attempt);
      setTimeout(() => void this.listen(attempt + 1).catch(() => undefined), delay).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.listener = client;
      if (attempt > 0) this.loop.wake();
    } catch (err) {
      client.emit('error', err);
    }
  }
}
