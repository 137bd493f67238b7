import type { Tx } from '../../core/tx.js';
import { BackgroundPass, type PassSpacing } from '../../infra/background-pass.js';
import type { KeyRing } from '../../infra/crypto/secrets.js';
import type { Logger } from '../../infra/logger.js';
import { PgListener } from '../../infra/pg-listener.js';
import type { PubSub } from '../../infra/pubsub.js';
import { withTimeout } from '../../infra/redis.js';
import { GENESIS, sealHash, type ChainEntry } from './audit-chain.js';
import { toSiemRecord, toTopicPayload, type StoredAuditEntry } from './audit-entry.js';
import type { AuditSealsRepository, NewSeal } from './audit-seals.repository.js';

/** The NOTIFY channel the `audit_log` trigger signals on commit (see its migration). */
export const AUDIT_CHANNEL = 'latchkey_audit';

const BATCH = 500;
const GATHER_MS = 5;
/**
 * Sealing and the live feed are not latency-critical: under a steady stream of commits their passes start
 * at least 250 ms apart (up to a second when a pass itself is slow), so at ~30 sign-ins a second each pass
 * carries several entries for its handful of statements. An idle service still seals within GATHER_MS.
 */
export const AUDIT_SPACING: PassSpacing = { minMs: 250, perPass: 4, maxMs: 1_000 };

const stored = (e: ChainEntry): StoredAuditEntry => {
  const { detailsText, ...rest } = e;
  return { ...rest, details: detailsText === null ? null : (JSON.parse(detailsText) as unknown) };
};

/**
 * Work committed with the seals of a batch of entries, in their transaction: each committed entry reaches a
 * listener exactly once (a failure rolls the batch back, and the next pass seals it again), and an entry of a
 * change that rolled back never exists. The webhook fan-out hangs here.
 */
export interface SealListener {
  /** Runs in the seals' transaction; true when it wrote work that `committed` should announce. */
  within(tx: Tx, entries: readonly StoredAuditEntry[]): Promise<boolean>;
  /** Runs once that transaction committed, when `within` said so (e.g. nudging the outbox relay). */
  committed?(): void;
}

export interface AuditSealerDeps {
  repo: Pick<AuditSealsRepository, 'sealBatch' | 'publishBatch'>;
  /** The chain's keys (`AppSecrets.ring('audit-seal')`): the current one seals. */
  sealKey: KeyRing;
  pubsub: PubSub;
  databaseUrl: string;
  log: Logger;
  sweepMs?: number;
}

/**
 * The audit log's background step, run by every process (like the outbox relay and the event publisher),
 * leader-free: woken by the NOTIFY of each commit that adds entries, and by a sweep. Two loops:
 *  1. seals pending entries into the hash chain, oldest first (one process at a time holds the seal lock;
 *     the others skip the round), and writes each sealed entry as one JSON log line (`"audit": true`, with
 *     its seal: shipped logs then hold the chain's hashes outside the database);
 *  2. publishes sealed entries past the feed's cursor to Redis, where every instance pushes them to its
 *     SUPPORT and ADMIN subscribers (at least once: a failed publish is retried from the cursor). The
 *     cursor is leased, not locked: no transaction stays open while Redis answers.
 * Writers of the log take no lock: sealing is off the hot path, within milliseconds of a commit on an idle
 * service, and in batches at most a few hundred milliseconds apart under load (AUDIT_SPACING).
 */
export class AuditSealer {
  /** Two loops, so sealing never waits behind a slow or unreachable Redis. */
  private readonly sealing: BackgroundPass;
  private readonly publishing: BackgroundPass;
  private readonly listener: PgListener;
  private readonly sealListeners: SealListener[] = [];

  constructor(private readonly deps: AuditSealerDeps) {
    const sweepMs = deps.sweepMs ?? 1_000;
    this.sealing = new BackgroundPass(() => this.sealPass(), { sweepMs, gatherMs: GATHER_MS, spacing: AUDIT_SPACING });
    this.publishing = new BackgroundPass(() => this.publishPass(), { sweepMs, gatherMs: 0, spacing: AUDIT_SPACING });
    this.listener = new PgListener(deps.databaseUrl, AUDIT_CHANNEL, () => this.sealing.wake(), deps.log);
  }

  /** Adds work to commit with every batch of seals (see SealListener). */
  onSealed(listener: SealListener): void {
    this.sealListeners.push(listener);
  }

  async start(): Promise<void> {
    await this.listener.start();
    this.sealing.start();
    this.publishing.start();
  }

  async stop(): Promise<void> {
    await this.sealing.stop();
    await this.publishing.stop();
    await this.listener.stop();
  }

  /** Seals, then publishes, until nothing is left (tests call it to settle the chain). */
  async pass(): Promise<void> {
    await this.sealPass();
    await this.publishPass();
  }

  private async sealPass(): Promise<void> {
    let sealed = 0;
    try {
      let n: number;
      do {
        n = await this.sealOnce();
        sealed += n;
      } while (n === BATCH); // a full batch: more may be waiting
    } catch (err) {
      this.deps.log.warn({ err }, 'audit: sealing failed; will retry from the pending entries');
    }
    if (sealed > 0) this.publishing.wake();
  }

  private async publishPass(): Promise<void> {
    try {
      while ((await this.deps.repo.publishBatch(BATCH, (rows) => this.publish(rows))) === BATCH) {
        // A full batch: more may be waiting.
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'audit: publishing failed; will retry from the feed cursor');
    }
  }

  private async sealOnce(): Promise<number> {
    const key = this.deps.sealKey.current;
    // Filled inside the transaction; read only once it committed (a rolled-back pass throws before).
    const wrote = new Set<SealListener>();
    const sealed = await this.deps.repo.sealBatch(BATCH, (tip, entries) => {
      let prev = tip ?? { seq: 0n, hash: GENESIS };
      return entries.map((entry): NewSeal => {
        const seq = prev.seq + 1n;
        const hash = sealHash(key, prev.hash, entry, seq);
        const seal = { seq, entryId: entry.id, keyId: key.id, prevHash: prev.hash, hash };
        prev = { seq, hash };
        return seal;
      });
    }, this.sealListeners.length === 0 ? undefined : async (tx, entries) => {
      const list = entries.map(stored);
      for (const listener of this.sealListeners) if (await listener.within(tx, list)) wrote.add(listener);
    });
    for (const listener of wrote) listener.committed?.();
    if (!sealed) return 0; // another process is sealing
    for (const { seal, entry } of sealed) {
      this.deps.log.info({ audit: true, ...toSiemRecord(stored(entry), { seq: seal.seq, hash: seal.hash.toString('hex') }) }, 'audit');
    }
    return sealed.length;
  }

  private async publish(rows: { seq: bigint; entry: ChainEntry }[]): Promise<void> {
    await withTimeout(this.deps.pubsub.publishAll(rows.map((r) => ({ topic: 'auditEvent', id: 'all', payload: toTopicPayload(stored(r.entry)) }))), 2_000);
  }
}
