import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../infra/crypto/secrets.js';
import { ChainVerifier, GENESIS, sealHash, type ChainEntry, type SealRecord } from './audit-chain.js';

const ring = new KeyRing([Buffer.alloc(32, 7)]);
const key = ring.current;

const entry = (n: number): ChainEntry => ({
  id: randomUUID(),
  occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
  action: 'user.signed_in',
  outcome: 'SUCCESS',
  actorId: null,
  targetUserId: null,
  sessionId: null,
  ip: '192.0.2.1',
  userAgent: null,
  requestId: `req-${n}`,
  detailsText: `{"n": ${n}}`,
});

/** A well-formed chain of `count` seals, as the sealer makes it. */
function chain(count: number): SealRecord[] {
  const seals: SealRecord[] = [];
  let prev: Buffer = GENESIS;
  for (let i = 1; i <= count; i++) {
    const e = entry(i);
    const seq = BigInt(i);
    const hash = sealHash(key, prev, e, seq);
    seals.push({ seq, entryId: e.id, keyId: key.id, prevHash: prev, hash, sealedAt: new Date(), entry: e });
    prev = hash;
  }
  return seals;
}

const firstBreak = (seals: SealRecord[]) => {
  const v = new ChainVerifier(ring);
  for (const s of seals) {
    const b = v.check(s);
    if (b) return b;
  }
  return null;
};

describe('ChainVerifier', () => {
  it('accepts a chain as sealed, and one whose start retention removed', () => {
    expect(firstBreak(chain(5))).toBeNull();
    expect(firstBreak(chain(5).slice(2))).toBeNull();
  });

  it('names the first seal whose entry was altered, even in a field outside the details', () => {
    const seals = chain(5);
    seals[2]!.entry = { ...seals[2]!.entry!, ip: '10.0.0.1' };
    expect(firstBreak(seals)).toEqual({ kind: 'entry_altered', seq: 3n, entryId: seals[2]!.entryId });
  });

  it('names a missing entry, a missing seal, a seal relinked to another chain, and a key it does not hold', () => {
    const gone = chain(4);
    gone[1]!.entry = null;
    expect(firstBreak(gone)).toEqual({ kind: 'entry_missing', seq: 2n, entryId: gone[1]!.entryId });
    const skipped = chain(4);
    expect(firstBreak([skipped[0]!, skipped[2]!, skipped[3]!])).toEqual({ kind: 'seal_missing', seq: 3n, expectedSeq: 2n });
    const relinked = chain(3);
    relinked[2] = { ...relinked[2]!, prevHash: Buffer.alloc(32, 1) };
    expect(firstBreak(relinked)).toEqual({ kind: 'link_broken', seq: 3n });
    const forged = chain(1);
    forged[0] = { ...forged[0]!, prevHash: Buffer.alloc(32, 2) };
    expect(firstBreak(forged)).toEqual({ kind: 'link_broken', seq: 1n });
    const foreign = chain(2);
    foreign[1] = { ...foreign[1]!, keyId: 'AAAAAAAA' };
    expect(firstBreak(foreign)).toEqual({ kind: 'unknown_key', seq: 2n, keyId: 'AAAAAAAA' });
  });

  it('binds each entry to its place: another sealed entry put in a seal does not verify there', () => {
    const seals = chain(3);
    const swapped = { ...seals[1]!, entry: seals[2]!.entry, entryId: seals[2]!.entryId };
    expect(firstBreak([seals[0]!, swapped])).toEqual({ kind: 'entry_altered', seq: 2n, entryId: seals[2]!.entryId });
  });
});
