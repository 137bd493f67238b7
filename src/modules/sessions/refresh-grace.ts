import type { Sealer } from '../../infra/crypto/sealed.js';
import type { ReuseGrace } from './sessions.repository.js';

/**
 * REFRESH_REUSE_GRACE_SECONDS: a rotated refresh token keeps its successor, sealed, for that long, so a
 * retry after a lost response gets that very successor back (docs/api.md, "Refresh tokens").
 */
export interface ReuseGraceSettings {
  /** 0: off (every second presentation is reuse). */
  seconds: number;
  sealer: Pick<Sealer, 'seal' | 'open'>;
}

/** A sealed successor opens only for the row of the token it succeeds: a value moved to another row fails. */
const successorAad = (parentHash: Uint8Array) => `refresh-successor:${Buffer.from(parentHash).toString('hex')}`;

/** What the rotation keeps with the parent token; undefined when no grace is set. */
export function keepSuccessor(grace: ReuseGraceSettings | undefined, parentHash: Uint8Array, successor: string): ReuseGrace | undefined {
  if (!grace || grace.seconds <= 0) return undefined;
  return { seconds: grace.seconds, sealedSuccessor: grace.sealer.seal(successor, successorAad(parentHash)) };
}

/** The successor kept with `parentHash`; throws when it does not open (tampered, moved, or its key is gone). */
export function keptSuccessor(grace: ReuseGraceSettings | undefined, parentHash: Uint8Array, sealed: string): string {
  if (!grace) throw new Error('a kept successor without a reuse grace');
  return grace.sealer.open(sealed, successorAad(parentHash));
}
