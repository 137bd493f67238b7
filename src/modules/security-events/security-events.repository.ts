import type { Prisma } from '../../infra/db/index.js';
import type { SecurityEventType } from '../../infra/db/index.js';

export interface NewSecurityEvent {
  userId: string;
  type: SecurityEventType;
  sessionId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  data?: Prisma.InputJsonValue;
}

/**
 * Security events are written inside the transaction of the change they report (CONTRACT.md §4),
 * so an event exists exactly when its change does. Publishing to live subscriptions follows the commit.
 */
export async function recordSecurityEvents(tx: Prisma.TransactionClient, events: readonly NewSecurityEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.securityEvent.createMany({
    data: events.map((e) => ({
      userId: e.userId,
      type: e.type,
      sessionId: e.sessionId ?? null,
      ip: e.ip ?? null,
      userAgent: e.userAgent ?? null,
      ...(e.data === undefined ? {} : { data: e.data }),
    })),
  });
}
