import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, Prisma, queryRows, statementPart, type PrismaClient, type SecurityEventType } from '../../infra/db/index.js';

export interface NewSecurityEvent {
  /** The account concerned. */
  userId: string;
  /**
   * Who acted: the account itself for what was done with its own credentials (a session, its password,
   * a link from its mailbox), another account for an operator, null for the system (a lockout, a detected
   * token reuse). Required, so every new event says it.
   */
  actorId: string | null;
  type: SecurityEventType;
  sessionId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  data?: Prisma.InputJsonValue;
}

/**
 * Security events are written inside the transaction of the change they report (docs/api.md, "Real-time events"),
 * so an event exists exactly when its change does. Publishing to live subscriptions follows the commit.
 */
export async function recordSecurityEvents(tx: Tx, events: readonly NewSecurityEvent[]): Promise<void> {
  if (events.length === 0) return;
  await clientOf(tx).securityEvent.createMany({ data: events.map(rowOf) });
}

/** One event's row (`recordSecurityEvents` writes it through Prisma, `securityEventsPart` column by column). */
const rowOf = (e: NewSecurityEvent) => ({
  userId: e.userId,
  actorId: e.actorId,
  type: e.type,
  sessionId: e.sessionId ?? null,
  ip: e.ip ?? null,
  userAgent: e.userAgent ?? null,
  ...(e.data === undefined ? {} : { data: e.data }),
});

/**
 * Security events as a part of the statement that makes the change they report: the rows
 * `recordSecurityEvents` writes (its NOTIFY trigger fires at commit all the same). `onlyIf`: a condition
 * on the statement's other parts without which none is written.
 */
export function securityEventsPart(events: readonly NewSecurityEvent[], opts: { name?: string; onlyIf?: Prisma.Sql } = {}): StatementPart {
  const rows = events.map(rowOf).map((e) => [
    ['user_id', Prisma.sql`${e.userId}::uuid`],
    ['actor_id', Prisma.sql`${e.actorId}::uuid`],
    ['type', Prisma.sql`${e.type}::"SecurityEventType"`],
    ['session_id', Prisma.sql`${e.sessionId}::uuid`],
    ['ip', Prisma.sql`${e.ip}::text`],
    ['user_agent', Prisma.sql`${e.userAgent}::text`],
    ['data', Prisma.sql`${'data' in e ? JSON.stringify(e.data) : null}::jsonb`],
  ] as const);
  return statementPart(opts.name ?? 'security_events', insertRows('security_events', rows, { onlyIf: opts.onlyIf }));
}

export interface StoredSecurityEvent {
  id: string;
  userId: string;
  type: SecurityEventType;
  occurredAt: Date;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  readAt: Date | null;
}

const EVENT_FIELDS = { id: true, userId: true, type: true, occurredAt: true, sessionId: true, ip: true, userAgent: true, readAt: true } as const;

/** Reads and marks of the security-event log; the only file of the feature that touches PostgreSQL. */
export class SecurityEventsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Newest first; keyset pagination on (occurred_at, id), so pages stay stable while events arrive. */
  page(userId: string, first: number, after?: { occurredAt: Date; id: string }): Promise<StoredSecurityEvent[]> {
    return this.prisma.securityEvent.findMany({
      where: {
        userId,
        ...(after
          ? { OR: [{ occurredAt: { lt: after.occurredAt } }, { occurredAt: after.occurredAt, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
      take: first,
      select: EVENT_FIELDS,
    });
  }

  /** Marks only the caller's own unread events; returns how many changed. */
  async markRead(userId: string, ids: readonly string[], now: Date): Promise<number> {
    const res = await this.prisma.securityEvent.updateMany({ where: { userId, id: { in: [...ids] }, readAt: null }, data: { readAt: now } });
    return res.count;
  }

  /**
   * Leases up to `limit` unpublished events whose lease is free or ran out, in one statement (SKIP LOCKED:
   * publishers on several instances share the rows without waiting on each other), oldest first. Nothing
   * stays locked once it returns: the caller publishes with no transaction open, then marks them published
   * (`published`, in the same statement as its next lease, or `markPublished`), or calls `release` when
   * publishing failed. A caller that dies leaves the lease to run out; another publisher then takes the rows
   * (at-least-once delivery).
   */
  async lease(limit: number, leaseSeconds: number, published: readonly string[] = []): Promise<EventLease> {
    // The mark rides on the lease: one round trip a pass. A data-modifying CTE always runs; the rows it
    // marks are still leased to this caller (and excluded by id), so the lease below never takes them.
    const rows = await queryRows<
      { id: string; user_id: string; type: SecurityEventType; occurred_at: Date; session_id: string | null; ip: string | null; user_agent: string | null; read_at: Date | null; leased_until: Date }
    >(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_security_events_lease */
      WITH marked AS (
        UPDATE security_events SET published_at = now(), publish_leased_until = NULL
        WHERE id = ANY(${[...published]}::uuid[]) AND published_at IS NULL)
      UPDATE security_events SET publish_leased_until = now() + make_interval(secs => ${leaseSeconds}::int)
      WHERE id IN (
        SELECT id FROM security_events
        WHERE published_at IS NULL AND (publish_leased_until IS NULL OR publish_leased_until <= now())
          AND id <> ALL(${[...published]}::uuid[])
        ORDER BY occurred_at, id LIMIT ${limit}::int FOR UPDATE SKIP LOCKED)
      RETURNING id::text, user_id::text, type::text AS type, occurred_at, session_id::text, ip, user_agent, read_at, publish_leased_until AS leased_until`);
    // RETURNING has no order: publish oldest first, as the events happened.
    rows.sort((x, y) => x.occurred_at.getTime() - y.occurred_at.getTime() || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return {
      events: rows.map((r) => ({ id: r.id, userId: r.user_id, type: r.type, occurredAt: r.occurred_at, sessionId: r.session_id, ip: r.ip, userAgent: r.user_agent, readAt: r.read_at })),
      leasedUntil: rows[0]?.leased_until ?? null,
    };
  }

  /** Marks leased events published (one statement for the batch); the first publication's time is kept. */
  async markPublished(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.prisma.securityEvent.updateMany({ where: { id: { in: [...ids] }, publishedAt: null }, data: { publishedAt: new Date(), publishLeasedUntil: null } });
  }

  /**
   * Gives a lease back after a failed publish, so the next pass retries at once instead of after the lease.
   * Only rows still under this lease: one that ran out and was taken by another publisher is left to it.
   */
  async release(ids: readonly string[], leasedUntil: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.prisma.securityEvent.updateMany({ where: { id: { in: [...ids] }, publishedAt: null, publishLeasedUntil: leasedUntil }, data: { publishLeasedUntil: null } });
  }
}

/** A batch of events one publisher holds until `leasedUntil` (null when the batch is empty). */
export interface EventLease {
  events: StoredSecurityEvent[];
  leasedUntil: Date | null;
}
