import type { RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { clientOf, type AuditOutcome, type Prisma } from '../../infra/db/index.js';
import type { AuditAction } from './audit-actions.js';

/** One audit entry as the action that causes it describes it. */
export interface NewAuditEntry {
  action: AuditAction;
  outcome: AuditOutcome;
  /** Who acted: the account itself, an operator, or null for the system. */
  actorId: string | null;
  /** The account concerned; null when there is none (an unknown identifier). */
  targetUserId: string | null;
  sessionId?: string | null;
  /** Never a password, token, code or secret; an identifier matching no account only as a keyed hash. */
  details?: Prisma.InputJsonValue;
}

/**
 * Appends audit entries inside the transaction of the action they record, so nothing happens unaudited
 * and nothing is audited that rolled back. `meta` supplies the request's IP, user agent and id.
 */
export async function recordAudit(tx: Tx, meta: RequestMeta | null, entries: readonly NewAuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await clientOf(tx).auditEntry.createMany({
    data: entries.map((e) => ({
      action: e.action,
      outcome: e.outcome,
      actorId: e.actorId,
      targetUserId: e.targetUserId,
      sessionId: e.sessionId ?? null,
      ip: meta?.ip ?? null,
      userAgent: meta?.userAgent ?? null,
      requestId: meta?.requestId ?? null,
      ...(e.details === undefined ? {} : { details: e.details }),
    })),
  });
}
