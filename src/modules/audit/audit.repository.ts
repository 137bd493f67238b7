import type { RequestMeta } from '../../core/request.js';
import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, Prisma, statementPart, type AuditOutcome, type PrismaClient } from '../../infra/db/index.js';
import type { AuditAction } from './audit-actions.js';
import type { StoredAuditEntry } from './audit-entry.js';

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

/** The User-Agent a client sends is its own text: kept, but bounded (the HTTP door already cuts it at 512). */
const MAX_USER_AGENT = 512;

/** Where an action came from: the request (`RequestMeta`), or what a session recorded of it. */
export type AuditSource = { readonly [K in 'ip' | 'userAgent' | 'requestId']: string | null };

/** The request's part of an entry: who asked, from where. */
const sourceOf = (meta: AuditSource | null) => ({
  ip: meta?.ip ?? null,
  userAgent: meta?.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
  requestId: meta?.requestId ?? null,
});

const rowsOf = (meta: RequestMeta | null, entries: readonly NewAuditEntry[]): Prisma.AuditEntryCreateManyInput[] =>
  entries.map((e) => ({
    action: e.action,
    outcome: e.outcome,
    actorId: e.actorId,
    targetUserId: e.targetUserId,
    sessionId: e.sessionId ?? null,
    ...sourceOf(meta),
    ...(e.details === undefined ? {} : { details: e.details }),
  }));

/**
 * Audit entries as a part of a larger statement (the change they record, in the same round trip): the
 * rows `recordAudit` writes, column by column. `at`: their time (default: the statement's `now()`);
 * `onlyIf`: a condition on the statement's other parts without which none is written.
 */
export function auditPart(
  meta: AuditSource | null,
  entries: readonly NewAuditEntry[],
  opts: { name?: string; at?: Date; onlyIf?: Prisma.Sql } = {},
): StatementPart {
  const source = sourceOf(meta);
  const occurredAt = opts.at ? Prisma.sql`${opts.at}::timestamptz` : Prisma.sql`now()`;
  const rows = entries.map((e) => [
    ['occurred_at', occurredAt],
    ['action', Prisma.sql`${e.action}::text`],
    ['outcome', Prisma.sql`${e.outcome}::"AuditOutcome"`],
    ['actor_id', Prisma.sql`${e.actorId}::uuid`],
    ['target_user_id', Prisma.sql`${e.targetUserId}::uuid`],
    ['session_id', Prisma.sql`${e.sessionId ?? null}::uuid`],
    ['ip', Prisma.sql`${source.ip}::text`],
    ['user_agent', Prisma.sql`${source.userAgent}::text`],
    ['request_id', Prisma.sql`${source.requestId}::text`],
    ['details', Prisma.sql`${e.details === undefined ? null : JSON.stringify(e.details)}::jsonb`],
  ] as const);
  return statementPart(opts.name ?? 'audit_entries', insertRows('audit_log', rows, { onlyIf: opts.onlyIf }));
}

/**
 * Appends audit entries inside the transaction of the action they record, so nothing happens unaudited
 * and nothing is audited that rolled back. `meta` supplies the request's IP, user agent and id.
 */
export async function recordAudit(tx: Tx, meta: RequestMeta | null, entries: readonly NewAuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await clientOf(tx).auditEntry.createMany({ data: rowsOf(meta, entries) });
}

/** Filters of the audit-log query and export; every field narrows (AND). */
export interface AuditFilter {
  action?: string;
  actorId?: string;
  targetUserId?: string;
  ip?: string;
  outcome?: AuditOutcome;
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
}

/** A keyset position: the (occurred_at, id) of the last entry of the previous page. */
export interface AuditPosition {
  occurredAt: Date;
  id: string;
}

const ENTRY_FIELDS = {
  id: true,
  occurredAt: true,
  action: true,
  outcome: true,
  actorId: true,
  targetUserId: true,
  sessionId: true,
  ip: true,
  userAgent: true,
  requestId: true,
  details: true,
} as const;

function whereOf(f: AuditFilter): Prisma.AuditEntryWhereInput {
  return {
    ...(f.action !== undefined ? { action: f.action } : {}),
    ...(f.actorId !== undefined ? { actorId: f.actorId } : {}),
    ...(f.targetUserId !== undefined ? { targetUserId: f.targetUserId } : {}),
    ...(f.ip !== undefined ? { ip: f.ip } : {}),
    ...(f.outcome !== undefined ? { outcome: f.outcome } : {}),
    ...(f.since || f.until ? { occurredAt: { ...(f.since ? { gte: f.since } : {}), ...(f.until ? { lt: f.until } : {}) } } : {}),
  };
}

/** Reads of the audit log, and the one write made outside an action's transaction. No update, no delete. */
export class AuditRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Entries of something that changed nothing in the database (a refused sign-in): their own statement,
   * one round trip. A failure rejects, so the caller's answer fails rather than go unaudited.
   */
  async record(meta: RequestMeta | null, entries: readonly NewAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.prisma.auditEntry.createMany({ data: rowsOf(meta, entries) });
  }

  /** Newest first, keyset-paged on (occurred_at, id) so pages stay stable while entries arrive. */
  page(filter: AuditFilter, first: number, before?: AuditPosition): Promise<StoredAuditEntry[]> {
    return this.prisma.auditEntry.findMany({
      where: {
        AND: [
          whereOf(filter),
          // The redundant bound lets PostgreSQL start the index scan at the cursor instead of filtering up to it.
          before ? { occurredAt: { lte: before.occurredAt }, OR: [{ occurredAt: { lt: before.occurredAt } }, { id: { lt: before.id } }] } : {},
        ],
      },
      orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
      take: first,
      select: ENTRY_FIELDS,
    });
  }

  /** Oldest first, from just after `after`: the export reads the log in pages of this. */
  pageAscending(filter: AuditFilter, limit: number, after?: AuditPosition): Promise<StoredAuditEntry[]> {
    return this.prisma.auditEntry.findMany({
      where: {
        AND: [
          whereOf(filter),
          after ? { occurredAt: { gte: after.occurredAt }, OR: [{ occurredAt: { gt: after.occurredAt } }, { id: { gt: after.id } }] } : {},
        ],
      },
      orderBy: [{ occurredAt: 'asc' }, { id: 'asc' }],
      take: limit,
      select: ENTRY_FIELDS,
    });
  }
}
