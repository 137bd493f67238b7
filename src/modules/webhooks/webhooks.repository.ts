import type { Tx } from '../../core/tx.js';
import { clientOf, transaction, type PrismaClient } from '../../infra/db/index.js';

export interface EndpointRecord {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  createdAt: Date;
}

/** An endpoint with its sealed secrets, as the delivery worker and rotation need it. */
export interface EndpointSecrets extends EndpointRecord {
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretUntil: Date | null;
  failingSince: Date | null;
}

export type DeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface DeliveryRecord {
  id: string;
  endpointId: string;
  messageId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  nextAttemptAt: Date | null;
}

export interface NewDelivery {
  id: string;
  endpointId: string;
  messageId: string;
  eventType: string;
  body: string;
}

/** One attempt's view of a delivery and its endpoint (secrets sealed). */
export interface AttemptRow {
  id: string;
  status: DeliveryStatus;
  messageId: string;
  body: string;
  /** Attempts made so far (over every job that carried this delivery). */
  attempts: number;
  endpoint: Pick<EndpointSecrets, 'id' | 'url' | 'enabled' | 'secretSealed' | 'previousSecretSealed' | 'previousSecretUntil' | 'failingSince'> & {
    /** Set while the endpoint's circuit is open: its deliveries are held until a probe finds it answering. */
    heldUntil: Date | null;
  };
}

interface RawAttempt {
  id: string;
  status: DeliveryStatus;
  message_id: string;
  body: string;
  attempts: number;
  held_until: Date | null;
  endpoint_id: string;
  url: string;
  enabled: boolean;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
}

const ENDPOINT = { id: true, url: true, events: true, description: true, enabled: true, createdAt: true } as const;
const SECRETS = { ...ENDPOINT, secretSealed: true, previousSecretSealed: true, previousSecretUntil: true, failingSince: true } as const;
const DELIVERY = {
  id: true,
  endpointId: true,
  messageId: true,
  eventType: true,
  status: true,
  attempts: true,
  lastResponseStatus: true,
  lastError: true,
  createdAt: true,
  deliveredAt: true,
  nextAttemptAt: true,
} as const;

/** Webhook endpoints and deliveries: the only file of the feature that touches PostgreSQL. */
export class WebhooksRepository {
  constructor(private readonly prisma: PrismaClient) {}

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }

  async createEndpoint(tx: Tx, e: { id: string; url: string; events: string[]; description: string | null; secretSealed: string }): Promise<EndpointRecord> {
    return clientOf(tx).webhookEndpoint.create({ data: e, select: ENDPOINT });
  }

  listEndpoints(): Promise<EndpointRecord[]> {
    return this.prisma.webhookEndpoint.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], select: ENDPOINT });
  }

  /** The endpoint's row, locked for the rest of `tx`; null when there is none. */
  async lockEndpoint(tx: Tx, id: string): Promise<EndpointSecrets | null> {
    const db = clientOf(tx);
    const rows = await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM webhook_endpoints WHERE id = ${id}::uuid FOR UPDATE`;
    if (rows.length === 0) return null;
    return db.webhookEndpoint.findUnique({ where: { id }, select: SECRETS });
  }

  async updateEndpoint(
    tx: Tx,
    id: string,
    data: { url?: string; events?: string[]; description?: string | null; enabled?: boolean; disabledReason?: string | null; failingSince?: Date | null },
  ): Promise<EndpointRecord> {
    return clientOf(tx).webhookEndpoint.update({ where: { id }, data, select: ENDPOINT });
  }

  async setSecrets(tx: Tx, id: string, s: { secretSealed: string; previousSecretSealed: string | null; previousSecretUntil: Date | null }): Promise<EndpointRecord> {
    return clientOf(tx).webhookEndpoint.update({ where: { id }, data: s, select: ENDPOINT });
  }

  async deleteEndpoint(tx: Tx, id: string): Promise<boolean> {
    const { count } = await clientOf(tx).webhookEndpoint.deleteMany({ where: { id } });
    return count === 1;
  }

  /**
   * The enabled endpoints, their filters and holds (read in the fan-out's transaction). The held ones are
   * read again under a key-share lock, so a release (which locks the endpoint) either sees the deliveries
   * this transaction holds for it or ends before, and then they are queued as usual.
   */
  async enabledEndpoints(tx: Tx): Promise<{ id: string; events: string[]; heldUntil: Date | null }[]> {
    const db = clientOf(tx);
    const rows = await db.webhookEndpoint.findMany({ where: { enabled: true }, select: { id: true, events: true, heldUntil: true } });
    const held = rows.filter((r) => r.heldUntil).map((r) => r.id);
    if (held.length === 0) return rows;
    const locked = await db.$queryRaw<{ id: string; held_until: Date | null }[]>`
      SELECT id::text AS id, held_until FROM webhook_endpoints WHERE id = ANY(${held}::uuid[]) FOR KEY SHARE`;
    const now = new Map(locked.map((r) => [r.id, r.held_until]));
    return rows.map((r) => (now.has(r.id) ? { ...r, heldUntil: now.get(r.id) ?? null } : r));
  }

  /** New deliveries; `held` ones wait for their endpoint's probe (PENDING, no job, `nextAttemptAt` its time). */
  async createDeliveries(tx: Tx, rows: readonly (NewDelivery & { heldUntil?: Date | null })[]): Promise<void> {
    if (rows.length === 0) return;
    await clientOf(tx).webhookDelivery.createMany({
      data: rows.map(({ heldUntil, ...r }) => (heldUntil ? { ...r, held: true, nextAttemptAt: heldUntil } : r)),
    });
  }

  /**
   * Opens the shared circuit: holds the endpoint's deliveries until `until` (unless it is held already or
   * disabled). True when this call started the hold (its caller schedules the probe).
   */
  async holdEndpoint(id: string, until: Date): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      UPDATE webhook_endpoints SET held_until = ${until}, held_probes = 0 WHERE id = ${id}::uuid AND enabled AND held_until IS NULL`;
    return n === 1;
  }

  /**
   * Holds one pending delivery whose endpoint is held (its job then ends without an attempt). The endpoint
   * row is key-share locked, so a release running meanwhile either sees this delivery held or has ended
   * (then nothing is held and the caller sends it). True when held.
   */
  async park(deliveryId: string): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      WITH e AS (
        SELECT e.id, e.held_until FROM webhook_endpoints e
        WHERE e.id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = ${deliveryId}::uuid) AND e.held_until IS NOT NULL
        FOR KEY SHARE)
      UPDATE webhook_deliveries d SET held = true, next_attempt_at = e.held_until
      FROM e WHERE d.id = ${deliveryId}::uuid AND d.status = 'PENDING' AND d.endpoint_id = e.id`;
    return n === 1;
  }

  /**
   * The probe's claim: a held endpoint whose wait is over is leased to this probe for `leaseMs` (another
   * probe for it then finds nothing to do). Null when there is nothing to probe now.
   */
  async claimProbe(id: string, leaseMs: number): Promise<{ enabled: boolean; probes: number } | null> {
    const rows = await this.prisma.$queryRaw<{ enabled: boolean; held_probes: number }[]>`
      UPDATE webhook_endpoints SET held_until = now() + make_interval(secs => ${leaseMs / 1000})
      WHERE id = ${id}::uuid AND held_until IS NOT NULL AND held_until <= now()
      RETURNING enabled, held_probes`;
    const r = rows[0];
    return r ? { enabled: r.enabled, probes: r.held_probes } : null;
  }

  /** The oldest held delivery of an endpoint (the one a probe sends). */
  async oldestHeld(endpointId: string): Promise<string | null> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      SELECT id::text AS id FROM webhook_deliveries WHERE endpoint_id = ${endpointId}::uuid AND held AND status = 'PENDING'
      ORDER BY created_at, id LIMIT 1`;
    return rows[0]?.id ?? null;
  }

  /** A failed probe: the endpoint stays held until `until` (one more failed probe), and so do its deliveries. */
  async holdLonger(id: string, until: Date): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.$executeRaw`UPDATE webhook_endpoints SET held_until = ${until}, held_probes = held_probes + 1 WHERE id = ${id}::uuid AND held_until IS NOT NULL`,
      this.prisma.$executeRaw`UPDATE webhook_deliveries SET next_attempt_at = ${until} WHERE endpoint_id = ${id}::uuid AND held AND status = 'PENDING'`,
    ]);
  }

  /**
   * Ends the hold inside `tx`: the endpoint is locked, its held deliveries are no longer held and are
   * returned oldest first (the caller queues them in the same transaction). With `abandon`, they are marked
   * FAILED instead (a disabled endpoint) and none is returned.
   */
  async endHold(tx: Tx, id: string, abandon?: string): Promise<string[]> {
    const db = clientOf(tx);
    await db.$queryRaw`SELECT id FROM webhook_endpoints WHERE id = ${id}::uuid FOR UPDATE`;
    await db.$executeRaw`UPDATE webhook_endpoints SET held_until = NULL, held_probes = 0 WHERE id = ${id}::uuid`;
    if (abandon) {
      await db.$executeRaw`
        UPDATE webhook_deliveries SET status = 'FAILED', held = false, next_attempt_at = NULL,
          last_error = CASE WHEN last_error IS NULL THEN ${abandon} ELSE left(last_error || ' (then: ' || ${abandon} || ')', 500) END
        WHERE endpoint_id = ${id}::uuid AND held AND status = 'PENDING'`;
      return [];
    }
    const rows = await db.$queryRaw<{ id: string }[]>`
      WITH r AS (
        UPDATE webhook_deliveries SET held = false, next_attempt_at = now()
        WHERE endpoint_id = ${id}::uuid AND held AND status = 'PENDING'
        RETURNING id, created_at)
      SELECT id::text AS id FROM r ORDER BY created_at, id`;
    return rows.map((r) => r.id);
  }

  /**
   * What the periodic sweep repairs after a crash between steps: endpoints with held deliveries but no hold
   * (`orphaned`), and held endpoints whose probe is overdue by `graceMs` (`overdue`, with their hold time).
   */
  async sweepTargets(graceMs: number): Promise<{ orphaned: string[]; overdue: { id: string; heldUntil: Date }[] }> {
    const orphaned = await this.prisma.$queryRaw<{ id: string }[]>`
      SELECT DISTINCT d.endpoint_id::text AS id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.held AND d.status = 'PENDING' AND e.held_until IS NULL LIMIT 100`;
    const overdue = await this.prisma.$queryRaw<{ id: string; held_until: Date }[]>`
      SELECT id::text AS id, held_until FROM webhook_endpoints
      WHERE held_until IS NOT NULL AND held_until < now() - make_interval(secs => ${graceMs / 1000}) LIMIT 100`;
    return { orphaned: orphaned.map((r) => r.id), overdue: overdue.map((r) => ({ id: r.id, heldUntil: r.held_until })) };
  }

  /** Newest first, keyset-paged on (created_at, id). */
  deliveries(endpointId: string, first: number, before?: { createdAt: Date; id: string }): Promise<DeliveryRecord[]> {
    return this.prisma.webhookDelivery.findMany({
      where: {
        endpointId,
        ...(before ? { OR: [{ createdAt: { lt: before.createdAt } }, { createdAt: before.createdAt, id: { lt: before.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: first,
      select: DELIVERY,
    });
  }

  endpointEnabled(id: string): Promise<boolean> {
    return this.prisma.webhookEndpoint.count({ where: { id, enabled: true } }).then((n) => n > 0);
  }

  endpointExists(id: string): Promise<boolean> {
    return this.prisma.webhookEndpoint.count({ where: { id } }).then((n) => n > 0);
  }

  async findDelivery(tx: Tx, id: string): Promise<(DeliveryRecord & { body: string }) | null> {
    return clientOf(tx).webhookDelivery.findUnique({ where: { id }, select: { ...DELIVERY, body: true } });
  }

  /**
   * What one attempt needs, in one statement: the delivery (its exact body) and its endpoint with the sealed
   * secrets. Plain SQL: this runs for every attempt, and skips the query builder's cost.
   */
  async attemptOf(id: string): Promise<AttemptRow | null> {
    const rows = await this.prisma.$queryRaw<RawAttempt[]>`
      SELECT d.id::text AS id, d.status::text AS status, d.message_id, d.body, d.attempts,
             e.id::text AS endpoint_id, e.url, e.enabled, e.secret_sealed, e.previous_secret_sealed, e.previous_secret_until, e.failing_since, e.held_until
      FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.id = ${id}::uuid`;
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      status: r.status,
      messageId: r.message_id,
      body: r.body,
      attempts: r.attempts,
      endpoint: {
        id: r.endpoint_id,
        url: r.url,
        enabled: r.enabled,
        secretSealed: r.secret_sealed,
        previousSecretSealed: r.previous_secret_sealed,
        previousSecretUntil: r.previous_secret_until,
        failingSince: r.failing_since,
        heldUntil: r.held_until,
      },
    };
  }

  /**
   * Records one attempt's outcome on a pending delivery (PENDING with `nextAttemptAt` while retries remain).
   * `recorded`; `abandoned` when its endpoint has been disabled meanwhile (the delivery is FAILED, no retry);
   * `gone` when no such delivery is pending (deleted with its endpoint, or finished).
   */
  async recordAttempt(
    id: string,
    r: { status: DeliveryStatus; responseStatus: number | null; error: string | null; deliveredAt: Date | null; nextAttemptAt: Date | null },
  ): Promise<'recorded' | 'abandoned' | 'gone'> {
    const rows = await this.prisma.$queryRaw<{ enabled: boolean }[]>`
      UPDATE webhook_deliveries d
      SET status = CASE WHEN e.enabled THEN ${r.status}::"WebhookDeliveryStatus" ELSE 'FAILED' END,
          attempts = d.attempts + 1, last_response_status = ${r.responseStatus},
          last_error = CASE WHEN e.enabled OR ${r.status} = 'SUCCEEDED' THEN ${r.error}::text ELSE left(coalesce(${r.error}::text || ' (then: endpoint disabled)', 'endpoint disabled'), 500) END,
          delivered_at = ${r.deliveredAt}, next_attempt_at = CASE WHEN e.enabled THEN ${r.nextAttemptAt}::timestamptz ELSE NULL END,
          held = d.held AND e.enabled AND ${r.status} = 'PENDING'
      FROM webhook_endpoints e
      WHERE d.id = ${id}::uuid AND d.status = 'PENDING' AND e.id = d.endpoint_id
      RETURNING e.enabled`;
    if (rows.length === 0) return 'gone';
    return rows[0]!.enabled || r.status === 'SUCCEEDED' ? 'recorded' : 'abandoned';
  }

  /** A delivery that will not be attempted (its endpoint is gone or disabled). */
  async abandon(id: string, reason: string): Promise<void> {
    // The last attempt's error stays first: it is why the endpoint was disabled, more often than not.
    await this.prisma.$executeRaw`
      UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL,
        last_error = CASE WHEN last_error IS NULL THEN ${reason} ELSE left(last_error || ' (then: ' || ${reason} || ')', 500) END
      WHERE id = ${id}::uuid AND status = 'PENDING'`;
  }

  /** The endpoint answered: it is no longer failing (a no-op write while it was not). */
  async endpointAnswered(id: string): Promise<void> {
    await this.prisma.webhookEndpoint.updateMany({ where: { id, failingSince: { not: null } }, data: { failingSince: null } });
  }

  /** The endpoint failed an attempt: marks since when, unless it was failing already. */
  async endpointFailed(id: string, at: Date): Promise<void> {
    await this.prisma.webhookEndpoint.updateMany({ where: { id, failingSince: null }, data: { failingSince: at } });
  }

  /**
   * Disables an enabled endpoint inside `tx`; with `failingBefore`, only one failing since at least then.
   * True when this call disabled it (so exactly one audit entry is written, however many workers race).
   */
  async disableEndpoint(tx: Tx, id: string, reason: string, failingBefore?: Date): Promise<boolean> {
    const { count } = await clientOf(tx).webhookEndpoint.updateMany({
      where: { id, enabled: true, ...(failingBefore ? { failingSince: { lte: failingBefore } } : {}) },
      data: { enabled: false, disabledReason: reason },
    });
    return count === 1;
  }
}
