import { isUuid } from '../validation.js';
import type { JobsOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, Prisma, queryRows, sqlOf, statementPart, type PrismaClient } from '../db/index.js';
import type { Logger } from '../logger.js';
import type { JobMap, QueueFactory, QueueName } from '../queue.js';
import { withTimeout } from '../redis.js';
import { BackgroundPass } from '../background-pass.js';

/** Outbox kinds are queue names: a row becomes one job of that queue, with the row id as job id. */
export type OutboxKind = QueueName;

/** Rows per statement of `addMany` (5 parameters each). */
const ADD_MANY_BATCH = 1000;

/** One job's row: its id (the job id, given by the caller) and payload; `availableAt` defaults to now. */
export interface OutboxRow<K extends OutboxKind> {
  id: string;
  payload: JobMap[K];
  availableAt?: Date;
}

/**
 * Jobs of one kind as a part of the statement that makes the change needing them (the one place an
 * outbox row's shape is written: `Outbox.add` and `addMany` run it alone). Call the relay's `nudge()`
 * once that statement has committed.
 */
export function outboxPart<K extends OutboxKind>(kind: K, rows: readonly OutboxRow<K>[], opts: { name?: string; at?: Date } = {}): StatementPart {
  const at = opts.at ?? new Date();
  const values = rows.map((r) => [
    ['id', Prisma.sql`${r.id}::uuid`],
    ['kind', Prisma.sql`${kind}::text`],
    ['payload', Prisma.sql`${JSON.stringify(r.payload)}::jsonb`],
    ['created_at', Prisma.sql`${at}::timestamptz`],
    ['available_at', Prisma.sql`${r.availableAt ?? at}::timestamptz`],
  ] as const);
  return statementPart(opts.name ?? 'outbox_jobs', insertRows('outbox_messages', values));
}

/** The outbox table: jobs written with the change that needs them, and claimed by the job that handles them. */
export class Outbox {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Writes a job inside the caller's transaction (`tx`), or alone: it exists exactly when the change that
   * needs it commits, so a crash between commit and enqueue loses nothing (the relay hands it to BullMQ later).
   * `id` (a UUID) lets the caller bind a sealed payload to its row, and so to its job (same id).
   */
  async add<K extends OutboxKind>(kind: K, payload: JobMap[K], opts: { tx?: Tx; id?: string } = {}): Promise<string> {
    const id = opts.id ?? randomUUID();
    await (opts.tx ? clientOf(opts.tx) : this.prisma).$executeRaw(sqlOf(outboxPart(kind, [{ id, payload }])));
    return id;
  }

  /**
   * Several jobs of one kind in one statement (inside `tx`), each row id given by the caller (its job id).
   * `availableAt` (default now) orders them: the relay hands rows to BullMQ in that order.
   */
  async addMany<K extends OutboxKind>(kind: K, rows: readonly OutboxRow<K>[], tx: Tx): Promise<void> {
    // Batches keep each statement far below PostgreSQL's 65,535 parameters (a released hold may queue many).
    for (let i = 0; i < rows.length; i += ADD_MANY_BATCH) await clientOf(tx).$executeRaw(sqlOf(outboxPart(kind, rows.slice(i, i + ADD_MANY_BATCH))));
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

  /**
   * The job of row `id` is over (completed, or failed with no attempt left): its row goes. Rows still
   * dispatched are then the jobs BullMQ holds, which the relay hands over again should Redis lose them.
   */
  async settle(kind: OutboxKind, id: string): Promise<void> {
    if (!isUuid(id)) return;
    await this.prisma.outboxMessage.deleteMany({ where: { id, kind, dispatchedAt: { not: null } } });
  }
}


export interface RelayOptions {
  pollMs: number;
  batchSize?: number;
  /** Per-queue job options (attempts, backoff) applied when a row is enqueued. */
  jobOptions?: Partial<Record<OutboxKind, JobsOptions>>;
  /**
   * A key that lives exactly as long as Redis keeps its data: when it is gone, so are the queued jobs
   * (a restart without persistence, FLUSHALL, failover to an empty replica), and the relay hands the
   * unfinished ones over again. `redis` is a client of the queues' Redis.
   */
  lossMarker?: { redis: Redis; key: string };
}

/**
 * Moves committed outbox rows to BullMQ. Every process runs one: a nudge after each commit keeps latency
 * low, the poll recovers rows left behind by a crash, and `FOR UPDATE SKIP LOCKED` lets many relays share
 * the table. The job id is the row id, so a row enqueued twice (crash after enqueue, before marking) is one job.
 */
export class OutboxRelay {
  private readonly loop: BackgroundPass;
  private lossCheckedAt = 0;

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
      // Once per poll interval, not on every nudge. Unreachable Redis or PostgreSQL: checked again next
      // time; the batch below backs off on its own.
      if (Date.now() - this.lossCheckedAt >= this.opts.pollMs) {
        this.lossCheckedAt = Date.now();
        await this.reofferAfterRedisLoss().catch((err: unknown) => this.log.debug({ err }, 'outbox: could not check Redis for lost jobs'));
      }
      while ((await this.runOnce()) === (this.opts.batchSize ?? 100)) {
        // A full batch: more may be waiting.
      }
    } catch (err) {
      this.log.warn({ err }, 'outbox relay pass failed; will retry');
    }
  }

  /**
   * Queued jobs live only in Redis. When the marker key is missing, Redis has lost its data (or this is its
   * first use): every row handed over and not settled since (its job was queued, waiting, delayed or
   * running) becomes available again, so the next pass queues it anew under the same job id, and the marker
   * is set. Every outbox-fed job is safe to run twice (an email is sent only while QUEUED, with its
   * idempotency key; a webhook delivery only while PENDING; claimed requests have no row left), and
   * several relays noticing the loss at once only re-offer the same rows. Rows handed over more than
   * `REOFFER_DAYS` ago are left alone: no retry policy keeps a job that long. Returns how many rows.
   */
  async reofferAfterRedisLoss(): Promise<number> {
    const marker = this.opts.lossMarker;
    if (!marker) return 0;
    if ((await withTimeout(marker.redis.exists(marker.key), 2_000)) === 1) return 0;
    const reoffered = await this.prisma.$executeRaw`
      UPDATE outbox_messages SET dispatched_at = NULL, available_at = now()
      WHERE dispatched_at IS NOT NULL AND dispatched_at > now() - make_interval(days => ${REOFFER_DAYS})`;
    await withTimeout(marker.redis.set(marker.key, randomUUID(), 'NX'), 2_000);
    if (reoffered > 0) this.log.warn({ jobs: reoffered }, 'outbox: Redis lost its queued jobs; handing the unfinished ones over again');
    return reoffered;
  }

  /**
   * One batch; returns how many rows it claimed. Rows are leased in one short statement (SKIP LOCKED, a
   * lease instead of a held transaction), then enqueued with no transaction open, so a slow or absent
   * Redis never holds PostgreSQL locks. A relay that dies mid-batch leaves leases that simply expire.
   */
  async runOnce(): Promise<number> {
    const limit = this.opts.batchSize ?? 100;
    const leased = await queryRows<{ id: string; kind: string; payload: unknown; attempts: number; available_at: Date }>(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_outbox_lease */
      WITH picked AS (
        SELECT id, available_at FROM outbox_messages
        WHERE dispatched_at IS NULL AND available_at <= now()
        ORDER BY available_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      UPDATE outbox_messages o SET available_at = now() + make_interval(secs => ${LEASE_SECONDS})
      FROM picked WHERE o.id = picked.id
      RETURNING o.id::text AS id, o.kind, o.payload, o.attempts, picked.available_at`);
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

/** How far back a Redis loss re-offers handed-over rows (BullMQ keeps failed jobs as long). */
const REOFFER_DAYS = 7;
