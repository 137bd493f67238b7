import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export const JWT_ALG = 'ES256';

export interface PublicJwk extends JWK {
  kid: string;
  alg: typeof JWT_ALG;
  use: 'sig';
}

export interface SigningKeys {
  /** The first key of `JWT_PRIVATE_KEYS`: it signs every new token. */
  readonly signer: { readonly kid: string; readonly key: CryptoKey };
  /** Every listed key verifies, so a key can rotate out without logging anyone out. */
  readonly verifiers: ReadonlyMap<string, CryptoKey>;
  readonly jwks: { readonly keys: readonly PublicJwk[] };
}

export class KeyConfigError extends Error {}

/** Parses a JWK set (or a bare array of JWKs) of P-256 private keys. */
export async function loadSigningKeys(raw: string): Promise<SigningKeys> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new KeyConfigError('JWT_PRIVATE_KEYS is not valid JSON');
  }
  const list: unknown = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(list) || list.length === 0) {
    throw new KeyConfigError('JWT_PRIVATE_KEYS must be a JWK set {"keys":[...]} with at least one key');
  }
  const verifiers = new Map<string, CryptoKey>();
  const publicKeys: PublicJwk[] = [];
  let signer: SigningKeys['signer'] | undefined;
  for (const [i, item] of list.entries()) {
    const jwk = item as JWK;
    if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y) {
      throw new KeyConfigError(`JWT_PRIVATE_KEYS key #${i} is not an ES256 (EC P-256) private key`);
    }
    const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
    if (verifiers.has(kid)) throw new KeyConfigError(`JWT_PRIVATE_KEYS lists kid "${kid}" twice`);
    const pub = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
    const privateKey = (await importJWK({ ...jwk, kid }, JWT_ALG)) as CryptoKey;
    verifiers.set(kid, (await importJWK(pub, JWT_ALG)) as CryptoKey);
    publicKeys.push({ ...pub, kid, alg: JWT_ALG, use: 'sig' });
    signer ??= { kid, key: privateKey };
  }
  if (!signer) throw new KeyConfigError('JWT_PRIVATE_KEYS has no usable key');
  return Object.freeze({ signer, verifiers, jwks: Object.freeze({ keys: Object.freeze(publicKeys) }) });
}

/** A fresh P-256 private JWK with a thumbprint `kid`. */
export async function generateSigningJwk(): Promise<JWK & { kid: string }> {
  const { privateKey } = await generateKeyPair(JWT_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg: JWT_ALG, use: 'sig' };
}
