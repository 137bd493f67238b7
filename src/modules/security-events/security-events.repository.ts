import type { Tx } from '../../core/tx.js';
import { clientOf, type Prisma, type PrismaClient, type SecurityEventType } from '../../infra/db/index.js';

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
  await clientOf(tx).securityEvent.createMany({
    data: events.map((e) => ({
      userId: e.userId,
      actorId: e.actorId,
      type: e.type,
      sessionId: e.sessionId ?? null,
      ip: e.ip ?? null,
      userAgent: e.userAgent ?? null,
      ...(e.data === undefined ? {} : { data: e.data }),
    })),
  });
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
   * Claims a batch of unpublished events and, if `publish` succeeds for all of them, marks them published,
   * in one transaction (SKIP LOCKED: several instances share the work). A failed publish rolls the batch
   * back, so the rows stay unpublished and the next sweep retries them.
   */
  async publishBatch(limit: number, publish: (events: StoredSecurityEvent[]) => Promise<void>): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<
        { id: string; user_id: string; type: SecurityEventType; occurred_at: Date; session_id: string | null; ip: string | null; user_agent: string | null; read_at: Date | null }[]
      >`SELECT id::text, user_id::text, type::text AS type, occurred_at, session_id::text, ip, user_agent, read_at
        FROM security_events WHERE published_at IS NULL
        ORDER BY occurred_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
      if (rows.length === 0) return 0;
      await publish(
        rows.map((r) => ({ id: r.id, userId: r.user_id, type: r.type, occurredAt: r.occurred_at, sessionId: r.session_id, ip: r.ip, userAgent: r.user_agent, readAt: r.read_at })),
      );
      await tx.securityEvent.updateMany({ where: { id: { in: rows.map((r) => r.id) } }, data: { publishedAt: new Date() } });
      return rows.length;
    });
  }
}
