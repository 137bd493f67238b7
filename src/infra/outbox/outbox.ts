import type { JobsOptions } from 'bullmq';
import type { Tx } from '../../core/tx.js';
import { clientOf, type Prisma, type PrismaClient } from '../db/index.js';
import type { Logger } from '../logger.js';
import type { JobMap, QueueFactory, QueueName } from '../queue.js';
import { withTimeout } from '../redis.js';
import { BackgroundPass } from '../background-pass.js';

/** Outbox kinds are queue names: a row becomes one job of that queue, with the row id as job id. */
export type OutboxKind = QueueName;

/** The outbox table: jobs written with the change that needs them, and claimed by the job that handles them. */
export class Outbox {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Writes a job inside the caller's transaction (`tx`), or alone: it exists exactly when the change that
   * needs it commits, so a crash between commit and enqueue loses nothing (the relay hands it to BullMQ later).
   * `id` (a UUID) lets the caller bind a sealed payload to its row, and so to its job (same id).
   */
  async add<K extends OutboxKind>(kind: K, payload: JobMap[K], opts: { tx?: Tx; id?: string } = {}): Promise<string> {
    const db = opts.tx ? clientOf(opts.tx) : this.prisma;
    const row = await db.outboxMessage.create({ data: { ...(opts.id ? { id: opts.id } : {}), kind, payload: payload as Prisma.InputJsonObject }, select: { id: true } });
    return row.id;
  }

  /**
   * Several jobs of one kind in one statement (inside `tx`), each row id given by the caller (its job id).
   * `availableAt` (default now) orders them: the relay hands rows to BullMQ in that order.
   */
  async addMany<K extends OutboxKind>(kind: K, rows: readonly { id: string; payload: JobMap[K]; availableAt?: Date }[], tx: Tx): Promise<void> {
    if (rows.length === 0) return;
    await clientOf(tx).outboxMessage.createMany({
      data: rows.map((r) => ({ id: r.id, kind, payload: r.payload as Prisma.InputJsonObject, ...(r.availableAt ? { availableAt: r.availableAt } : {}) })),
    });
  }

  /**
   * For jobs whose handling is not naturally idempotent: deletes the row behind job `id` (inside the
   * handler's transaction when given). True for the first handling; false when it was handled already (a
   * row the relay re-offered after a crash becomes a new job once the first one is removed on completion).
   */
  async claim(kind: OutboxKind, id: string, tx?: Tx): Promise<boolean> {
    const { count } = await (tx ? clientOf(tx) : this.prisma).outboxMessage.deleteMany({ where: { id, kind } });
    return count === 1;
  }
}

export interface RelayOptions {
  pollMs: number;
  batchSize?: number;
  /** Per-queue job options (attempts, backoff) applied when a row is enqueued. */
  jobOptions?: Partial<Record<OutboxKind, JobsOptions>>;
}

/**
 * Moves committed outbox rows to BullMQ. Every process runs one: a nudge after each commit keeps latency
 * low, the poll recovers rows left behind by a crash, and `FOR UPDATE SKIP LOCKED` lets many relays share
 * the table. The job id is the row id, so a row enqueued twice (crash after enqueue, before marking) is one job.
 */
export class OutboxRelay {
  private readonly loop: BackgroundPass;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly queues: QueueFactory,
    private readonly log: Logger,
    private readonly opts: RelayOptions,
  ) {
    this.loop = new BackgroundPass(() => this.pass(), { sweepMs: opts.pollMs, gatherMs: NUDGE_DELAY_MS });
  }

  start(): void {
    this.loop.start();
  }

  /** Hands committed jobs to BullMQ soon (nudges within a few milliseconds share one pass). */
  nudge(): void {
    this.loop.wake();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async pass(): Promise<void> {
    try {
      while ((await this.runOnce()) === (this.opts.batchSize ?? 100)) {
        // A full batch: more may be waiting.
      }
    } catch (err) {
      this.log.warn({ err }, 'outbox relay pass failed; will retry');
    }
  }

  /**
   * One batch; returns how many rows it claimed. Rows are leased in one short statement (SKIP LOCKED, a
   * lease instead of a held transaction), then enqueued with no transaction open, so a slow or absent
   * Redis never holds PostgreSQL locks. A relay that dies mid-batch leaves leases that simply expire.
   */
  async runOnce(): Promise<number> {
    const limit = this.opts.batchSize ?? 100;
    const leased = await this.prisma.$queryRaw<{ id: string; kind: string; payload: unknown; attempts: number; available_at: Date }[]>`
      WITH picked AS (
        SELECT id, available_at FROM outbox_messages
        WHERE dispatched_at IS NULL AND available_at <= now()
        ORDER BY available_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      UPDATE outbox_messages o SET available_at = now() + make_interval(secs => ${LEASE_SECONDS})
      FROM picked WHERE o.id = picked.id
      RETURNING o.id::text AS id, o.kind, o.payload, o.attempts, picked.available_at`;
    // RETURNING has no order: enqueue in the order the rows became available (oldest first).
    const rows = leased.sort((a, b) => a.available_at.getTime() - b.available_at.getTime());
    const handedOver: string[] = [];
    // One round trip per queue (BullMQ addBulk, one MULTI): rows grouped by kind, in order within each.
    const kinds = [...new Set(rows.map((r) => r.kind as OutboxKind))];
    for (const [k, kind] of kinds.entries()) {
      const batch = rows.filter((r) => r.kind === kind);
      try {
        // BullMQ queues commands while Redis is away; the deadline keeps a pass short.
        await withTimeout(
          this.queues.queue(kind).addBulk(batch.map((row) => ({ name: kind, data: row.payload as JobMap[typeof kind], opts: { ...this.opts.jobOptions?.[kind], jobId: row.id } }))),
          2_000,
        );
        handedOver.push(...batch.map((r) => r.id));
      } catch (err) {
        // Redis is down: this kind's rows and the rest of the batch back off; the next pass tries again.
        const message = String((err as Error).message).slice(0, 500);
        const rest = rows.filter((r) => kinds.indexOf(r.kind as OutboxKind) >= k);
        for (const row of rest) {
          const delayMs = Math.min(60_000, 500 * 2 ** Math.min(row.attempts, 7));
          // updateMany: a row whose job did reach the queue may already have been claimed and deleted.
          await this.prisma.outboxMessage.updateMany({
            where: { id: row.id },
            data: { attempts: { increment: 1 }, lastError: message, availableAt: new Date(Date.now() + delayMs) },
          });
        }
        this.log.warn({ err, rows: rest.length }, 'outbox: could not hand jobs to the queue; backing off');
        break;
      }
    }
    // One statement for the whole batch; a crash before it only re-offers rows, and their job ids dedupe.
    if (handedOver.length > 0) {
      await this.prisma.outboxMessage.updateMany({ where: { id: { in: handedOver } }, data: { dispatchedAt: new Date(), attempts: { increment: 1 } } });
    }
    return rows.length;
  }
}

/** How long nudges are gathered into one relay pass. */
const NUDGE_DELAY_MS = 10;

/** How long a claimed row is hidden from other relays while this one enqueues it. */
const LEASE_SECONDS = 30;
