import type { KeyRing } from '../../infra/crypto/secrets.js';
import { ChainVerifier, type BrokenLink } from './audit-chain.js';
import type { AuditSealsRepository } from './audit-seals.repository.js';

export interface ChainReport {
  /** True when every seal links and every sealed entry is intact. */
  ok: boolean;
  /** Seals checked before the first broken link (all of them when `ok`). */
  checked: number;
  /** The oldest and newest seal checked (retention removes the oldest: the chain starts where it left off). */
  firstSeq: bigint | null;
  lastSeq: bigint | null;
  broken: BrokenLink | null;
  /** Entries older than the grace period that no seal covers (written around the log's trigger, or the sealer is down). */
  unsealed: number;
}

/** Entries younger than this may still be on their way to a seal. */
export const UNSEALED_GRACE_MS = 5 * 60_000;

/**
 * Walks the whole chain from its oldest remaining seal and reports the first broken link (`npm run
 * audit:verify`). Reads in batches, so a chain of any length is checked in bounded memory.
 */
export async function verifyAuditChain(
  repo: Pick<AuditSealsRepository, 'readSeals' | 'countUnsealed'>,
  ring: KeyRing,
  opts: { batch?: number; now?: Date } = {},
): Promise<ChainReport> {
  const batch = opts.batch ?? 5_000;
  const verifier = new ChainVerifier(ring);
  let broken: BrokenLink | null = null;
  let after = 0n;
  for (;;) {
    const seals = await repo.readSeals(after, batch);
    for (const s of seals) {
      broken = verifier.check(s);
      if (broken) break;
    }
    if (broken || seals.length < batch) break;
    after = seals.at(-1)!.seq;
  }
  const unsealed = await repo.countUnsealed(new Date((opts.now ?? new Date()).getTime() - UNSEALED_GRACE_MS));
  return { ok: broken === null, checked: verifier.checked, firstSeq: verifier.first?.seq ?? null, lastSeq: verifier.last?.seq ?? null, broken, unsealed };
}
