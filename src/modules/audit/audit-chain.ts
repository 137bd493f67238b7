import { createHmac, timingSafeEqual } from 'node:crypto';
import type { KeyRing, VersionedKey } from '../../infra/crypto/secrets.js';
import type { StoredAuditEntry } from './audit-entry.js';

/**
 * The hash chain over the audit log (docs/audit.md, "Tamper evidence"). Seal `n` holds
 * `HMAC-SHA-256(key, hash(n-1) || canonical(entry, n))`, with `hash(0)` 32 zero bytes, under a key derived
 * from APP_SECRET (`audit-seal`): editing, removing or reordering a sealed entry breaks the chain from there
 * on, and a copy of the database alone cannot forge a new chain.
 */

export const GENESIS = Buffer.alloc(32);

/** An entry as the chain reads it: `details` as PostgreSQL prints the jsonb (one canonical text per value). */
export type ChainEntry = Omit<StoredAuditEntry, 'details'> & { detailsText: string | null };

/** The bytes an entry contributes to its seal: its fields in a fixed order, and its place in the chain. */
export function canonical(e: ChainEntry, seq: bigint): Buffer {
  return Buffer.from(
    JSON.stringify([
      seq.toString(),
      e.id,
      e.occurredAt.toISOString(),
      e.action,
      e.outcome,
      e.actorId,
      e.targetUserId,
      e.sessionId,
      e.ip,
      e.userAgent,
      e.requestId,
      e.detailsText,
    ]),
    'utf8',
  );
}

export function sealHash(key: VersionedKey, prevHash: Buffer, e: ChainEntry, seq: bigint): Buffer {
  return createHmac('sha256', key.key).update(prevHash).update(canonical(e, seq)).digest();
}

/** One seal as stored, and its entry (null when the entry is gone). */
export interface SealRecord {
  seq: bigint;
  entryId: string;
  keyId: string;
  prevHash: Buffer;
  hash: Buffer;
  sealedAt: Date;
  entry: ChainEntry | null;
}

export type BrokenLink =
  | { kind: 'seal_missing'; seq: bigint; expectedSeq: bigint }
  | { kind: 'link_broken'; seq: bigint }
  | { kind: 'entry_missing'; seq: bigint; entryId: string }
  | { kind: 'entry_altered'; seq: bigint; entryId: string }
  | { kind: 'unknown_key'; seq: bigint; keyId: string };

/**
 * Walks seals in `seq` order and stops at the first broken link. The first seal read is trusted as the
 * start (the oldest one retention left) unless it is seal 1, whose previous hash must be the genesis.
 */
export class ChainVerifier {
  private prev: { seq: bigint; hash: Buffer } | undefined;
  checked = 0;
  first: SealRecord | undefined;
  last: SealRecord | undefined;

  constructor(private readonly ring: KeyRing) {}

  /** The first problem with this seal, or null when it links and its entry is intact. */
  check(s: SealRecord): BrokenLink | null {
    const prev = this.prev;
    if (prev && s.seq !== prev.seq + 1n) return { kind: 'seal_missing', seq: s.seq, expectedSeq: prev.seq + 1n };
    if (prev ? !s.prevHash.equals(prev.hash) : s.seq === 1n && !s.prevHash.equals(GENESIS)) return { kind: 'link_broken', seq: s.seq };
    if (!s.entry) return { kind: 'entry_missing', seq: s.seq, entryId: s.entryId };
    const key = this.ring.get(s.keyId);
    if (!key) return { kind: 'unknown_key', seq: s.seq, keyId: s.keyId };
    const expected = sealHash(key, s.prevHash, s.entry, s.seq);
    if (expected.length !== s.hash.length || !timingSafeEqual(expected, s.hash)) return { kind: 'entry_altered', seq: s.seq, entryId: s.entryId };
    this.prev = { seq: s.seq, hash: s.hash };
    this.first ??= s;
    this.last = s;
    this.checked += 1;
    return null;
  }
}

/** A broken link as one line for an operator. */
export function describeBreak(b: BrokenLink): string {
  switch (b.kind) {
    case 'seal_missing':
      return `seal #${b.expectedSeq} is missing (the next one found is #${b.seq}): a seal was deleted`;
    case 'link_broken':
      return `seal #${b.seq} does not link to the seal before it: a seal was altered or replaced`;
    case 'entry_missing':
      return `seal #${b.seq}: its entry ${b.entryId} is missing: an entry was deleted`;
    case 'entry_altered':
      return `seal #${b.seq}: entry ${b.entryId} does not match its seal: the entry (or the seal) was altered`;
    case 'unknown_key':
      return `seal #${b.seq} was made with key ${b.keyId}, which APP_SECRET and APP_SECRET_PREVIOUS no longer provide: cannot check from there`;
  }
}
