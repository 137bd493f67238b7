/**
 * ECDSA signatures are malleable: if (r, s) verifies, so does (r, n − s). WebCrypto and node's
 * `crypto.verify` accept both, so anyone holding one valid token could mint a second, different
 * string that verifies too (a different cache key, a different token for any deny-list or log that
 * identifies tokens by their bytes). Signing therefore always emits the low-S form (s ≤ n/2), and
 * verification refuses the other, as Bitcoin (BIP 62/146) and libsecp256k1 do.
 */

/** Order of the P-256 group (FIPS 186-4, D.1.2.3). */
const P256_N = 0xffffffff_00000000_ffffffff_ffffffff_bce6faad_a7179e84_f3b9cac2_fc632551n;
const HALF_N = P256_N >> 1n;
/** ES256 signatures are r ‖ s, 32 bytes each (JWA, RFC 7518 §3.4). */
const SIZE = 64;

const toBigInt = (b: Buffer) => BigInt(`0x${b.toString('hex')}`);

/** True when a raw P-256 signature (r ‖ s) has s ≤ n/2; false for anything not 64 bytes. */
export function isLowS(signature: Buffer): boolean {
  return signature.length === SIZE && toBigInt(signature.subarray(32)) <= HALF_N;
}

/** The same signature in its low-S form: s replaced by n − s when s > n/2 (both verify). */
export function toLowS(signature: Buffer): Buffer {
  if (signature.length !== SIZE) throw new Error('not a P-256 signature');
  const s = toBigInt(signature.subarray(32));
  if (s <= HALF_N) return signature;
  const low = Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex');
  return Buffer.concat([signature.subarray(0, 32), low]);
}
