import type { Tx } from '../../core/tx.js';
import { execute, Prisma, queryRows, type AuditOutcome, type PrismaClient } from '../../infra/db/index.js';
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

/** An entry's columns from a LEFT JOIN: all null when no entry came. */
type NullableEntryRow = { [K in keyof EntryRow]: EntryRow[K] | null };

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
   * others skip this round); writers of the log never touch the lock. Null when another process holds it,
   * or sealed meanwhile (below).
   *
   * Two statements besides BEGIN and COMMIT (each round trip is CPU a bcrypt-bound box takes off sign-ins):
   *  1. the lock, and when it is ours the chain's tip and the oldest pending entries;
   *  2. the seals, and their entries off the pending list.
   * Statement 1 reads from a snapshot taken as it starts, before it takes the lock: a sealer that
   * committed in between is not seen, so statement 2 writes only if no seal has appeared past the tip it
   * read (otherwise nothing is written, and the round is skipped as if the lock had been taken).
   */
  async sealBatch(
    limit: number,
    link: (tip: { seq: bigint; hash: Buffer } | null, entries: ChainEntry[]) => NewSeal[],
    /** Work that commits with the seals (the webhook fan-out): an entry is handed to it exactly once. */
    within?: (tx: Tx, entries: ChainEntry[]) => Promise<void>,
  ): Promise<{ seal: NewSeal; entry: ChainEntry }[] | null> {
    return this.prisma.$transaction(async (tx) => {
      // The lock is tried once (a materialized CTE: a subquery would be inlined, and the function called
      // again in each filter), and the reads run only when it is ours (a one-time filter on `l.locked`).
      const rows = await tx.$queryRaw<(NullableEntryRow & { locked: boolean; tip_seq: bigint | null; tip_hash: Uint8Array | null })[]>`/* prepared:latchkey_seal_read */
        WITH l AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(${SEAL_LOCK}) AS locked)
        SELECT l.locked, t.seq AS tip_seq, t.hash AS tip_hash, e.*
        FROM l
        LEFT JOIN LATERAL (SELECT s.seq, s.hash FROM audit_seals s WHERE l.locked ORDER BY s.seq DESC LIMIT 1) t ON true
        LEFT JOIN LATERAL (
          SELECT a.id::text AS id, a.occurred_at, a.action, a.outcome::text AS outcome, a.actor_id::text AS actor_id,
                 a.target_user_id::text AS target_user_id, a.session_id::text AS session_id, a.ip, a.user_agent, a.request_id,
                 a.details::text AS details_text
          FROM audit_pending p JOIN audit_log a ON a.id = p.entry_id
          WHERE l.locked
          ORDER BY a.occurred_at, a.id LIMIT ${limit}::int) e ON true
        ORDER BY e.occurred_at, e.id::uuid`;
      const head = rows[0];
      if (!head?.locked) return null;
      const entries = rows.filter((r): r is EntryRow & typeof r => r.id !== null).map(entryOf);
      if (entries.length === 0) return [];
      const tip = head.tip_seq === null || head.tip_hash === null ? null : { seq: BigInt(head.tip_seq), hash: Buffer.from(head.tip_hash) };
      const seals = link(tip, entries);
      const hex = (b: Buffer) => b.toString('hex');
      const [written] = await tx.$queryRaw<{ n: bigint }[]>`/* prepared:latchkey_seal_write */
        WITH fresh AS (SELECT NOT EXISTS (SELECT 1 FROM audit_seals WHERE seq > ${String(tip?.seq ?? 0n)}::bigint) AS ok),
        sealed AS (
          INSERT INTO audit_seals (seq, entry_id, key_id, prev_hash, hash, sealed_at)
          SELECT s.seq::bigint, s.entry_id::uuid, s.key_id, decode(s.prev_hash, 'hex'), decode(s.hash, 'hex'), statement_timestamp()
          FROM unnest(${seals.map((x) => String(x.seq))}::text[], ${seals.map((x) => x.entryId)}::text[], ${seals.map((x) => x.keyId)}::text[],
                      ${seals.map((x) => hex(x.prevHash))}::text[], ${seals.map((x) => hex(x.hash))}::text[]) AS s(seq, entry_id, key_id, prev_hash, hash)
          WHERE (SELECT ok FROM fresh)
          RETURNING entry_id),
        unpended AS (DELETE FROM audit_pending WHERE entry_id IN (SELECT entry_id FROM sealed))
        SELECT count(*) AS n FROM sealed`;
      if (Number(written?.n ?? 0) !== seals.length) return null; // another process sealed after our snapshot
      if (within) await within(tx as unknown as Tx, entries);
      return seals.map((seal, i) => ({ seal, entry: entries[i]! }));
    });
  }

  /**
   * Hands the sealed entries after the feed's cursor to `publish`, oldest first, and moves the cursor past
   * them. One process at a time: the cursor row is leased for `leaseSeconds` (its `leased_until`), and no
   * transaction or lock is held while `publish` waits on Redis. A failed publish gives the lease back with
   * the cursor unmoved, so the next sweep sends the same entries again; a process that dies mid-batch
   * leaves a lease that runs out. At least once, in chain order. 0 when another process holds the lease or
   * nothing is new.
   *
   * Two statements per batch: the lease (taken only when a seal lies past the cursor, so an empty round
   * costs that one statement and holds nothing) together with the read, then the cursor's move.
   */
  async publishBatch(limit: number, publish: (entries: { seq: bigint; entry: ChainEntry }[]) => Promise<void>, leaseSeconds = 30): Promise<number> {
    const rows = await queryRows<NullableEntryRow & { cursor_seq: bigint; leased_until: Date; seq: bigint | null }>(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_audit_feed_lease */
      WITH c AS (
        UPDATE audit_cursors SET leased_until = now() + make_interval(secs => ${leaseSeconds}::int)
        WHERE name = ${PUBLISHER} AND (leased_until IS NULL OR leased_until <= now())
          AND EXISTS (SELECT 1 FROM audit_seals s WHERE s.seq > audit_cursors.seq)
        RETURNING seq, leased_until)
      SELECT c.seq AS cursor_seq, c.leased_until, e.*
      FROM c LEFT JOIN LATERAL (
        SELECT s.seq, a.id::text AS id, a.occurred_at, a.action, a.outcome::text AS outcome, a.actor_id::text AS actor_id,
               a.target_user_id::text AS target_user_id, a.session_id::text AS session_id, a.ip, a.user_agent, a.request_id,
               a.details::text AS details_text
        FROM audit_seals s JOIN audit_log a ON a.id = s.entry_id
        WHERE s.seq > c.seq ORDER BY s.seq LIMIT ${limit}::int) e ON true
      ORDER BY e.seq`);
    const head = rows[0];
    if (!head) return 0;
    const leasedUntil = head.leased_until;
    // Only under our own lease: had it run out and another process taken over, that one moves the cursor.
    const settle = (seq: bigint | null) => execute(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_audit_feed_settle */
      UPDATE audit_cursors SET leased_until = NULL, seq = coalesce(${seq === null ? null : String(seq)}::bigint, seq)
      WHERE name = ${PUBLISHER} AND leased_until = ${leasedUntil}::timestamptz`);
    const batch = rows.filter((r): r is EntryRow & typeof r & { seq: bigint } => r.id !== null && r.seq !== null);
    try {
      if (batch.length > 0) await publish(batch.map((r) => ({ seq: BigInt(r.seq), entry: entryOf(r) })));
    } catch (err) {
      await settle(null).catch(() => undefined);
      throw err;
    }
    await settle(batch.length > 0 ? BigInt(batch.at(-1)!.seq) : null);
    return batch.length;
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
