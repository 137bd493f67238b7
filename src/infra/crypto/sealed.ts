import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyRing } from './secrets.js';

/**
 * AES-256-GCM with keys derived from APP_SECRET (`AppSecrets.ring('data-encryption')`), for secrets
 * that must be stored or queued but never in clear (an email's link token, TOTP secrets). Every value
 * names the key that sealed it, so APP_SECRET can rotate: the current key seals, every configured key
 * opens what it sealed.
 */
export class Sealer {
  readonly #keys: KeyRing;

  /** A key ring, or one 32-byte key (a ring of one). */
  constructor(keys: KeyRing | Buffer) {
    this.#keys = Buffer.isBuffer(keys) ? new KeyRing([keys]) : keys;
    if (this.#keys.all.some((k) => k.key.length !== 32)) throw new Error('Sealer needs 32-byte keys');
  }

  /**
   * `v2.<key id>.<iv>.<tag>.<ciphertext>` (base64url parts); `aad` binds the value to its context (e.g.
   * a row id). Values written before key ids existed, `v1.<iv>.<tag>.<ciphertext>`, open with the
   * ring's oldest key.
   */
  seal(plaintext: string, aad = ''): string {
    const { id, key } = this.#keys.current;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v2', id, ...[iv, cipher.getAuthTag(), ct].map((p) => p.toString('base64url'))].join('.');
  }

  /** Throws when the value was tampered with, sealed under a key not configured, or for another context. */
  open(sealed: string, aad = ''): string {
    const parts = sealed.split('.');
    let key: Buffer | undefined;
    let rest: string[];
    if (parts[0] === 'v2' && parts.length === 5) {
      key = this.#keys.get(parts[1]!)?.key;
      if (!key) throw new Error('sealed with a key that is not configured (APP_SECRET_PREVIOUS?)');
      rest = parts.slice(2);
    } else if (parts[0] === 'v1' && parts.length === 4) {
      key = this.#keys.legacy.key;
      rest = parts.slice(1);
    } else {
      throw new Error('not a sealed value');
    }
    const [iv, tag, ct] = rest as [string, string, string];
    if (!iv || !tag) throw new Error('not a sealed value');
    // A fixed tag length: node would otherwise accept a tag cut down to 4 bytes, weakening forgery protection.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}
