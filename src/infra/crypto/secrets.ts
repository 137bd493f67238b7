import { hkdfSync } from 'node:crypto';

/** Purposes of keys derived from APP_SECRET; one key per purpose so no key serves two roles. */
export type KeyPurpose = 'password-pepper' | 'data-encryption' | 'token-mac';

/** HKDF-SHA-256 of the master secret: compromise of one derived key reveals neither the master nor its siblings. */
export function deriveKey(appSecret: string, purpose: KeyPurpose, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(appSecret, 'utf8'), Buffer.alloc(0), `latchkey:${purpose}`, length));
}
