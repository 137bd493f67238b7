import { isUuid } from '../../infra/validation.js';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { isLowS, toLowS } from '../../infra/crypto/ecdsa-low-s.js';
import { JWT_ALG, type SigningKeys } from '../../infra/crypto/keys.js';
import { AppError } from '../../infra/errors.js';

export const AUDIENCE = 'latchkey';
/** JWT profile for OAuth 2.0 access tokens (RFC 9068 §2.1): keeps an ID token or any other JWT of the same key from passing as one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** How far ahead of this instance's clock a token's `iat` (and how far past `exp`) may be: skew between instances. */
export const CLOCK_SKEW_SECONDS = 5;

export interface AccessClaims {
  readonly sub: string;
  readonly sid: string;
  readonly iat: number;
  readonly exp: number;
}

export interface AccessTokenOptions {
  issuer: string;
  ttlSeconds: number;
  /** Verified tokens kept in memory; each hit re-checks expiry, and revocation is checked per call elsewhere. */
  cacheSize?: number;
  now?: () => number;
}

const unauthenticated = (why: string) => new AppError('UNAUTHENTICATED', why);

/**
 * ES256 access tokens, `typ: at+jwt` (RFC 9068). Verification pins the algorithm, type, issuer and
 * audience, refuses a token issued in the future or older than the TTL, and takes only low-S
 * signatures (see ecdsa-low-s.ts); a
 * signature is checked once per token per process (a cache hit re-checks `exp`), since the signature
 * check dominated the cost of an authenticated call.
 */
export class AccessTokens {
  private readonly cache = new Map<string, AccessClaims>();
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(
    private readonly keys: SigningKeys,
    private readonly opts: AccessTokenOptions,
  ) {
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  get ttlSeconds(): number {
    return this.opts.ttlSeconds;
  }

  async sign(userId: string, sessionId: string): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    const jwt = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: JWT_ALG, kid: this.keys.signer.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.opts.issuer)
      .setAudience(AUDIENCE)
      .setSubject(userId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.opts.ttlSeconds)
      .sign(this.keys.signer.key);
    // WebCrypto signs with either S; resource servers that insist on low-S (as verify() does) must accept ours.
    const dot = jwt.lastIndexOf('.');
    return `${jwt.slice(0, dot)}.${toLowS(Buffer.from(jwt.slice(dot + 1), 'base64url')).toString('base64url')}`;
  }

  /** The token's claims, or `UNAUTHENTICATED` for anything malformed, forged, foreign or expired. */
  async verify(token: string): Promise<AccessClaims> {
    const nowSec = Math.floor(this.now() / 1000);
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.exp > nowSec) return cached;
      this.cache.delete(token);
      throw unauthenticated('The access token has expired');
    }
    // The high-S twin of a valid signature verifies too: refuse it before jose (which would accept it).
    if (!isLowS(Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url'))) throw unauthenticated('The access token is invalid');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [JWT_ALG],
        typ: ACCESS_TOKEN_TYP,
        issuer: this.opts.issuer,
        audience: AUDIENCE,
        currentDate: new Date(this.now()),
        // Also refuses an `iat` in the future (beyond the skew): no token of ours is ever issued ahead of time.
        maxTokenAge: this.opts.ttlSeconds,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['sub', 'sid', 'iat', 'exp'],
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthenticated('The access token has expired');
      throw unauthenticated('The access token is invalid');
    }
    const { sub, sid, iat, exp } = payload;
    if (typeof sub !== 'string' || typeof sid !== 'string' || !isUuid(sub) || !isUuid(sid) || typeof iat !== 'number' || typeof exp !== 'number') {
      throw unauthenticated('The access token is invalid');
    }
    const claims: AccessClaims = Object.freeze({ sub, sid, iat, exp });
    if (this.cache.size >= this.cacheSize) {
      // Evict the oldest insertion: Map iterates in insertion order.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, claims);
    return claims;
  }

  private keyFor(header: JWTHeaderParameters) {
    const key = header.kid ? this.keys.verifiers.get(header.kid) : undefined;
    if (!key) throw unauthenticated('The access token was signed by an unknown key');
    return key;
  }
}

/** Extracts the token of an `Authorization: Bearer <token>` value. */
export function bearerToken(authorization: string | undefined): string {
  const match = authorization ? /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim()) : null;
  if (!match?.[1]) throw unauthenticated('Send an access token as `Authorization: Bearer <token>`');
  return match[1];
}
