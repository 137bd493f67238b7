import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A software WebAuthn authenticator for tests, on node:crypto alone: it answers creation options with an
 * attestation-'none' registration response and request options with ES256 assertions, as a browser's
 * `credential.toJSON()` would give them. Every knob a test needs to build a bad answer is here: the origin
 * and RP id it claims, the UP/UV flags, the counter, the challenge.
 */

type Json = Record<string, unknown>;

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** Flags of authenticator data (WebAuthn §6.1). */
export const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

// ------------------------------------------------------------------------------------------------
// The few CBOR shapes attestation objects and COSE keys use (RFC 8949): ints, byte and text strings, maps.

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v, 'utf8')]);
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

// ------------------------------------------------------------------------------------------------

export interface SoftCredential {
  id: Uint8Array;
  rpId: string;
  /** The user handle the RP gave at registration (base64url), returned by discoverable assertions. */
  userHandle: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  counter: number;
}

export interface CeremonyOptions {
  /** The page's origin as the browser would write it in clientDataJSON. */
  origin?: string;
  /** The RP id whose hash starts authenticator data (default: the one in the options). */
  rpId?: string;
  /** Authenticator data flags. @default UP | UV */
  flags?: number;
  /** Answer this challenge instead of the options' (a replay, a forgery). */
  challenge?: string;
  type?: string;
}

export interface AssertOptions extends CeremonyOptions {
  /** The credential to use (its base64url id); by default the first the options allow, or the only one for the RP. */
  credentialId?: string;
  /** The counter to sign (default: one more than the last). */
  counter?: number;
  /** Leave the user handle out (a non-discoverable credential). */
  withoutUserHandle?: boolean;
}

/** COSE_Key of an EC2 P-256 public key, ES256 (RFC 9053). */
function coseKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return cbor(
    new Map<Cbor, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
}

function authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter >>> 0);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), c, ...(attested ? [attested] : [])]);
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];

  constructor(private readonly defaults: { origin: string }) {}

  /** Answers PublicKeyCredentialCreationOptionsJSON with a new credential (attestation 'none'). */
  create(options: Json, opts: CeremonyOptions = {}): Json {
    const rp = options.rp as { id: string };
    const user = options.user as { id: string };
    const rpId = opts.rpId ?? rp.id;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = randomBytes(16);
    const credential: SoftCredential = { id, rpId: rp.id, userHandle: user.id, privateKey, publicKey, counter: 0 };
    const clientDataJSON = this.clientData('webauthn.create', options, opts);
    const attested = Buffer.concat([Buffer.alloc(16), Buffer.from([id.length >> 8, id.length & 0xff]), id, coseKey(publicKey)]);
    const data = authData(rpId, (opts.flags ?? FLAG.UP | FLAG.UV) | FLAG.AT, 0, attested);
    const attestationObject = cbor(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', data],
      ]),
    );
    this.credentials.push(credential);
    return {
      id: b64url(id),
      rawId: b64url(id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal'] },
    };
  }

  /** Answers PublicKeyCredentialRequestOptionsJSON with an ES256 assertion. */
  assert(options: Json, opts: AssertOptions = {}): Json {
    const rpId = (options.rpId as string | undefined) ?? opts.rpId!;
    const credential = this.pick(options, rpId, opts.credentialId);
    const counter = opts.counter ?? credential.counter + 1;
    credential.counter = counter;
    const data = authData(opts.rpId ?? rpId, opts.flags ?? FLAG.UP | FLAG.UV, counter);
    const clientDataJSON = this.clientData('webauthn.get', options, opts);
    // ES256: ECDSA P-256 over authData || SHA-256(clientDataJSON), DER-encoded (node's default for EC keys).
    const signature = sign('sha256', Buffer.concat([data, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(data),
        signature: b64url(signature),
        ...(opts.withoutUserHandle ? {} : { userHandle: credential.userHandle }),
      },
    };
  }

  private pick(options: Json, rpId: string, id?: string): SoftCredential {
    const allowed = ((options.allowCredentials as { id: string }[] | undefined) ?? []).map((c) => c.id);
    const candidates = this.credentials.filter((c) => c.rpId === rpId && (id ? b64url(c.id) === id : allowed.length === 0 || allowed.includes(b64url(c.id))));
    const found = candidates[0];
    if (!found) throw new Error('SoftAuthenticator: no credential for these options');
    return found;
  }

  private clientData(type: string, options: Json, opts: CeremonyOptions): Buffer {
    return Buffer.from(
      JSON.stringify({ type: opts.type ?? type, challenge: opts.challenge ?? options.challenge, origin: opts.origin ?? this.defaults.origin, crossOrigin: false }),
    );
  }
}
