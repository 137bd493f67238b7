import type { Tx } from '../../core/tx.js';
import type { AuditOutcome, PrismaClient } from '../../infra/db/index.js';
import type { ChainEntry, SealRecord } from './audit-chain.js';

/** Held (for its transaction) by whichever process is sealing: the chain grows one batch at a time. */
const SEAL_LOCK = 7_312_046_177_050_212n;
/** The live feed's position in the chain (one row, seeded by the migration). */
const PUBLISHER = 'publisher';

interface EntryRow {
  id: string;
  occurred_at: Date;
  action: string;
  outcome: AuditOutcome;
  actor_id: string | null;
  target_user_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details_text: string | null;
}

const entryOf = (r: EntryRow): ChainEntry => ({
  id: r.id,
  occurredAt: r.occurred_at,
  action: r.action,
  outcome: r.outcome,
  actorId: r.actor_id,
  targetUserId: r.target_user_id,
  sessionId: r.session_id,
  ip: r.ip,
  userAgent: r.user_agent,
  requestId: r.request_id,
  detailsText: r.details_text,
});

/** A seal to append: the next `seq`, the entry, and its link. */
export interface NewSeal {
  seq: bigint;
  entryId: string;
  keyId: string;
  prevHash: Buffer;
  hash: Buffer;
}

/** The chain's state and its upkeep: sealing, the live feed's cursor, verification reads and retention. */
export class AuditSealsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Seals up to `limit` pending entries (oldest first) after the chain's last seal, in one transaction.
   * Only one process seals at a time (a transaction-level advisory lock, tried, never waited for: the
   * others skip this round); writers of the log never touch the lock. Null when another process holds it.
   */
  async sealBatch(
    limit: number,
    link: (tip: { seq: bigint; hash: Buffer } | null, entries: ChainEntry[]) => NewSeal[],
    /** Work that commits with the seals (the webhook fan-out): an entry is handed to it exactly once. */
    within?: (tx: Tx, entries: ChainEntry[]) => Promise<void>,
  ): Promise<{ seal: NewSeal; entry: ChainEntry }[] | null> {
    return this.prisma.$transaction(async (tx) => {
      const [lock] = await tx.$queryRaw<{ locked: boolean; now: Date }[]>`SELECT pg_try_advisory_xact_lock(${SEAL_LOCK}) AS locked, clock_timestamp() AS now`;
      if (!lock?.locked) return null;
      const rows = await tx.$queryRaw<EntryRow[]>`
        SELECT a.id::text AS id, a.occurred_at, a.action, a.outcome::text AS outcome, a.actor_id::text AS actor_id,
               a.target_user_id::text AS target_user_id, a.session_id::text AS session_id, a.ip, a.user_agent, a.request_id,
               a.details::text AS details_text
        FROM audit_pending p JOIN audit_log a ON a.id = p.entry_id
        ORDER BY a.occurred_at, a.id LIMIT ${limit}`;
      if (rows.length === 0) return [];
      const [tip] = await tx.$queryRaw<{ seq: bigint; hash: Uint8Array }[]>`SELECT seq, hash FROM audit_seals ORDER BY seq DESC LIMIT 1`;
      const entries = rows.map(entryOf);
      const seals = link(tip ? { seq: BigInt(tip.seq), hash: Buffer.from(tip.hash) } : null, entries);
      await tx.auditSeal.createMany({
        data: seals.map((s) => ({ seq: s.seq, entryId: s.entryId, keyId: s.keyId, prevHash: new Uint8Array(s.prevHash), hash: new Uint8Array(s.hash), sealedAt: lock.now })),
      });
      await tx.auditPending.deleteMany({ where: { entryId: { in: entries.map((e) => e.id) } } });
      if (within) await within(tx as unknown as Tx, entries);
      return seals.map((seal, i) => ({ seal, entry: entries[i]! }));
    });
  }

  /**
   * Hands the sealed entries after the feed's cursor to `publish`, oldest first, and moves the cursor past
   * them. One process at a time: the cursor row is leased for `leaseSeconds` in one statement (its
   * `leased_until`), and no transaction or lock is held while `publish` waits on Redis. A failed publish
   * gives the lease back with the cursor unmoved, so the next sweep sends the same entries again; a process
   * that dies mid-batch leaves a lease that runs out. At least once, in chain order. 0 when another process
   * holds the lease or nothing is new.
   */
  async publishBatch(limit: number, publish: (entries: { seq: bigint; entry: ChainEntry }[]) => Promise<void>, leaseSeconds = 30): Promise<number> {
    const [cursor] = await this.prisma.$queryRaw<{ seq: bigint; leased_until: Date }[]>`
      UPDATE audit_cursors SET leased_until = now() + make_interval(secs => ${leaseSeconds})
      WHERE name = ${PUBLISHER} AND (leased_until IS NULL OR leased_until <= now())
      RETURNING seq, leased_until`;
    if (!cursor) return 0;
    const mine = { name: PUBLISHER, leasedUntil: cursor.leased_until };
    let rows: (EntryRow & { seq: bigint })[];
    try {
      rows = await this.prisma.$queryRaw<(EntryRow & { seq: bigint })[]>`
        SELECT s.seq, a.id::text AS id, a.occurred_at, a.action, a.outcome::text AS outcome, a.actor_id::text AS actor_id,
               a.target_user_id::text AS target_user_id, a.session_id::text AS session_id, a.ip, a.user_agent, a.request_id,
               a.details::text AS details_text
        FROM audit_seals s JOIN audit_log a ON a.id = s.entry_id
        WHERE s.seq > ${cursor.seq} ORDER BY s.seq LIMIT ${limit}`;
      if (rows.length > 0) await publish(rows.map((r) => ({ seq: BigInt(r.seq), entry: entryOf(r) })));
    } catch (err) {
      await this.prisma.auditCursor.updateMany({ where: mine, data: { leasedUntil: null } }).catch(() => undefined);
      throw err;
    }
    // Only under our own lease: had it run out and another process taken over, that one moves the cursor.
    await this.prisma.auditCursor.updateMany({ where: mine, data: { leasedUntil: null, ...(rows.length > 0 ? { seq: BigInt(rows.at(-1)!.seq) } : {}) } });
    return rows.length;
  }

  /** Seals after `afterSeq` in chain order, each with its entry if it still exists (for verification). */
  async readSeals(afterSeq: bigint, limit: number): Promise<SealRecord[]> {
    const rows = await this.prisma.$queryRaw<
      (Omit<EntryRow, 'id'> & { id: string | null; seq: bigint; entry_id: string; key_id: string; prev_hash: Uint8Array; hash: Uint8Array; sealed_at: Date })[]
    >`
      SELECT s.seq, s.entry_id::text AS entry_id, s.key_id, s.prev_hash, s.hash, s.sealed_at,
             a.id::text AS id, a.occurred_at, a.action, a.outcome::text AS outcome, a.actor_id::text AS actor_id,
             a.target_user_id::text AS target_user_id, a.session_id::text AS session_id, a.ip, a.user_agent, a.request_id,
             a.details::text AS details_text
      FROM audit_seals s LEFT JOIN audit_log a ON a.id = s.entry_id
      WHERE s.seq > ${afterSeq} ORDER BY s.seq LIMIT ${limit}`;
    return rows.map((r) => ({
      seq: BigInt(r.seq),
      entryId: r.entry_id,
      keyId: r.key_id,
      prevHash: Buffer.from(r.prev_hash),
      hash: Buffer.from(r.hash),
      sealedAt: r.sealed_at,
      entry: r.id === null ? null : entryOf({ ...r, id: r.id }),
    }));
  }

  /** Entries older than `before` that no seal covers: the sealer is down, or rows were written around the log's trigger. */
  async countUnsealed(before: Date): Promise<number> {
    const [row] = await this.prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM audit_log a
      WHERE a.occurred_at < ${before} AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.entry_id = a.id)`;
    return Number(row?.n ?? 0);
  }

  /**
   * Retention: removes the oldest stretch of the chain whose entries all occurred before `cutoff` (seals
   * and entries together, a batch per transaction), so what remains is still one unbroken chain, checked
   * from its oldest seal. The log's trigger lets these deletes through only for entries before the cutoff
   * this transaction declares. Returns how many entries went.
   */
  async purgeBefore(cutoff: Date, batch = 5_000): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = await this.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT set_config('latchkey.audit_retention_cutoff', ${cutoff.toISOString()}, true)`;
        const rows = await tx.$queryRaw<{ seq: bigint; entry_id: string; occurred_at: Date | null }[]>`
          SELECT s.seq, s.entry_id::text AS entry_id, a.occurred_at
          FROM audit_seals s LEFT JOIN audit_log a ON a.id = s.entry_id ORDER BY s.seq LIMIT ${batch}`;
        // Stop at the first entry still within retention, or gone (verification must still see that gap).
        const end = rows.findIndex((r) => r.occurred_at === null || r.occurred_at >= cutoff);
        const doomed = end === -1 ? rows : rows.slice(0, end);
        if (doomed.length === 0) return { n: 0, more: false };
        await tx.auditEntry.deleteMany({ where: { id: { in: doomed.map((r) => r.entry_id) } } });
        await tx.$executeRaw`DELETE FROM audit_seals WHERE seq <= ${doomed.at(-1)!.seq}`;
        return { n: doomed.length, more: end === -1 && rows.length === batch };
      });
      removed += n.n;
      if (!n.more) return removed;
    }
  }
}
