import { createHash, randomBytes } from 'node:crypto';

/** 256 bits from the CSPRNG, URL-safe; only its SHA-256 is ever stored. */
export function newOpaqueToken(): { token: string; hash: Uint8Array<ArrayBuffer> } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashOpaqueToken(token) };
}

export function hashOpaqueToken(token: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(token, 'utf8').digest());
}

/** Opaque tokens are 43 base64url characters; anything else is refused before it reaches the database. */
export const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{43}$/;
