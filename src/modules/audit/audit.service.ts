import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import { toSiemRecord, type StoredAuditEntry } from './audit-entry.js';
import type { AuditFilter, AuditPosition, AuditRepository } from './audit.repository.js';
import { auditExportSchema, auditPageSchema } from './audit.schema.js';

export interface AuditPage {
  edges: { cursor: string; node: StoredAuditEntry }[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Rows per read of the export: a stream of any length holds this many in memory at most. */
const EXPORT_BATCH = 1_000;

/** Opaque to clients; inside, the keyset position (occurred_at, id) of an entry. */
const encodeCursor = (e: AuditPosition) => Buffer.from(`${e.occurredAt.toISOString()}|${e.id}`).toString('base64url');

function decodeCursor(cursor: string): AuditPosition {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const occurredAt = new Date(at ?? '');
  if (!id || Number.isNaN(occurredAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('BAD_USER_INPUT', 'The cursor is not one this API gave out', { fields: { after: 'is not a valid cursor' } });
  }
  return { occurredAt, id };
}

/** Drops the nulls GraphQL hands in for absent optional fields. */
const present = (o: Record<string, unknown> | null | undefined) => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== null && v !== undefined));

/**
 * Reading the audit log, for operators (the doors check the role): the paged query and the NDJSON export.
 * Nothing here writes; the log is append-only (a PostgreSQL trigger refuses updates and deletes).
 */
export class AuditService {
  constructor(private readonly repo: Pick<AuditRepository, 'page' | 'pageAscending'>) {}

  /** Newest first; every filter narrows; `after` is the `endCursor` of the previous page. */
  async page(input: { filter?: Record<string, unknown> | null; first: number; after?: string | null }): Promise<AuditPage> {
    const { filter, first, after } = parseInput(auditPageSchema, { filter: present(input.filter), first: input.first, ...(input.after ? { after: input.after } : {}) });
    const rows = await this.repo.page(filter satisfies AuditFilter, first + 1, after ? decodeCursor(after) : undefined);
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /**
   * The export: one JSON object per line (`SiemRecord`), oldest first, read in keyset batches so any
   * length streams in bounded memory. The query is checked before the first line, so a bad one is a
   * typed error rather than a broken stream.
   */
  exportLines(query: unknown): AsyncGenerator<string> {
    const filter: AuditFilter = parseInput(auditExportSchema, present(query as Record<string, unknown>));
    const repo = this.repo;
    return (async function* () {
      let after: AuditPosition | undefined;
      for (;;) {
        const rows = await repo.pageAscending(filter, EXPORT_BATCH, after);
        if (rows.length === 0) return;
        yield rows.map((r) => `${JSON.stringify(toSiemRecord(r))}\n`).join('');
        if (rows.length < EXPORT_BATCH) return;
        after = rows.at(-1);
      }
    })();
  }
}
