import { createHash, hkdfSync } from 'node:crypto';

/** Purposes of keys derived from APP_SECRET; one key per purpose so no key serves two roles. */
export type KeyPurpose = 'password-pepper' | 'data-encryption' | 'token-mac' | 'alert-mac' | 'audit-identifier' | 'audit-seal' | 'passkey-decoy';

/** HKDF-SHA-256 of the master secret: compromise of one derived key reveals neither the master nor its siblings. */
export function deriveKey(appSecret: string, purpose: KeyPurpose, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(appSecret, 'utf8'), Buffer.alloc(0), `latchkey:${purpose}`, length));
}

/** A key and the id written beside everything made with it. */
export interface VersionedKey {
  /** 8 base64url characters: see {@link keyIdOf}. */
  readonly id: string;
  readonly key: Buffer;
}

/**
 * A key's id: 48 bits of SHA-256 over a label and the key. It names the key (so a stored value says
 * which key opens it) and, being a one-way digest of 256 random bits, tells nothing about the key.
 */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('latchkey:key-id\u0000').update(key).digest('base64url').slice(0, 8);
}

/**
 * The keys of one purpose, newest first: the first makes every new value, all of them open old ones.
 * Values written before key ids existed carry none: they belong to the oldest key (the last).
 */
export class KeyRing {
  readonly current: VersionedKey;
  /** The key of values that carry no key id (written before ids existed): the oldest configured. */
  readonly legacy: VersionedKey;
  readonly all: readonly VersionedKey[];
  readonly #byId: ReadonlyMap<string, VersionedKey>;

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('KeyRing needs at least one key');
    this.all = Object.freeze(keys.map((key) => Object.freeze({ id: keyIdOf(key), key: Buffer.from(key) })));
    const byId = new Map<string, VersionedKey>();
    for (const k of this.all) {
      if (byId.has(k.id)) throw new Error('KeyRing: the same key is listed twice');
      byId.set(k.id, k);
    }
    this.#byId = byId;
    this.current = this.all[0]!;
    this.legacy = this.all[this.all.length - 1]!;
  }

  /** The key with this id, or undefined when it is not (or no longer) configured. */
  get(id: string): VersionedKey | undefined {
    return this.#byId.get(id);
  }
}

/**
 * APP_SECRET and the previous secrets still accepted (APP_SECRET_PREVIOUS, newest first). The current
 * secret makes every new sealed value, pepper hash and MAC; previous ones only open or verify old ones,
 * so the master secret can rotate without logging anyone out or losing data.
 */
export class AppSecrets {
  readonly #secrets: readonly string[];

  constructor(current: string, previous: readonly string[] = []) {
    this.#secrets = [current, ...previous];
  }

  /** The derived keys of one purpose, one per secret, in the same order. */
  ring(purpose: KeyPurpose): KeyRing {
    return new KeyRing(this.#secrets.map((s) => deriveKey(s, purpose)));
  }
}
