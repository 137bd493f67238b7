import { createHmac, randomInt } from 'node:crypto';
import type { KeyRing } from '../../infra/crypto/secrets.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** Characters of a recovery code: 25 base32 characters are 125 bits from the CSPRNG. */
export const RECOVERY_CODE_LENGTH = 25;
/** Codes issued before they grew to 125 bits (10 characters, 50 bits): still accepted until used or replaced. */
const LEGACY_CODE_LENGTH = 10;

/**
 * A code's stored form and the forms it may have been stored under.
 *
 * Why a keyed HMAC-SHA-256 and not a slow, salted hash: ASVS 5.0 asks for a password hash only for
 * lookup secrets under 112 bits; at 125 bits an offline search is out of reach however fast each
 * guess is (2^124 tries on average), so a slow hash would only cost every sign-in ten slow hashes per
 * guess. The HMAC key (derived from APP_SECRET, kept out of the database) adds that a database dump
 * alone cannot even test a guess, which also covers the 50-bit codes of older enrollments.
 * Stored: the 8-character id of the key, then the 32-byte MAC; a MAC without an id predates ids and
 * was made with the oldest key.
 */
export interface RecoveryCodeHash {
  /** What a new code is stored as: made with the current key. */
  readonly stored: Uint8Array<ArrayBuffer>;
  /** Every form a stored code could have: one per configured key, plus the id-less form of an old 10-character code. */
  readonly candidates: readonly Uint8Array<ArrayBuffer>[];
}

/** A fresh code, shown grouped (`xxxxx-xxxxx-xxxxx-xxxxx-xxxxx`); spaces, dashes and case are ignored on input. */
export function newRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < RECOVERY_CODE_LENGTH; i++) s += BASE32[randomInt(32)];
  return s.match(/.{5}/g)!.join('-');
}

export function hashRecoveryCode(keys: KeyRing, code: string): RecoveryCodeHash {
  const normalised = code.replace(/[\s-]/g, '').toLowerCase();
  const mac = (key: Buffer) => createHmac('sha256', key).update(normalised).digest();
  const withId = (k: { id: string; key: Buffer }) => new Uint8Array(Buffer.concat([Buffer.from(k.id, 'ascii'), mac(k.key)]));
  const candidates = keys.all.map(withId);
  if (normalised.length === LEGACY_CODE_LENGTH) candidates.push(new Uint8Array(mac(keys.legacy.key)));
  return { stored: withId(keys.current), candidates };
}
