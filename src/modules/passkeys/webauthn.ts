/**
 * @simplewebauthn/server, loaded on the first passkey ceremony rather than at start: with its CBOR, ASN.1
 * and attestation code it is ~12 MiB of resident memory in every process, most of which never sees a
 * passkey (a worker, or an API whose users sign in by password). One import, shared by every caller.
 */
let loaded: Promise<typeof import('@simplewebauthn/server')> | undefined;

export function webauthn(): Promise<typeof import('@simplewebauthn/server')> {
  loaded ??= import('@simplewebauthn/server');
  return loaded;
}
