import { expect } from 'vitest';
import { bearer, PAYLOAD, type Tokens } from './auth-client.js';
import { gql } from './harness.js';
import type { AssertOptions, CeremonyOptions, SoftAuthenticator } from './soft-authenticator.js';

type Server = { url: string };
type Json = Record<string, unknown>;

export const REG_START = 'mutation RegStart($code: String) { startPasskeyRegistration(code: $code) { challengeId options } }';
export const REG_FINISH = 'mutation RegFinish($c: ID!, $r: JSON!, $n: String) { finishPasskeyRegistration(challengeId: $c, response: $r, name: $n) { id name createdAt lastUsedAt } }';
export const LIST = 'query Passkeys { passkeys { id name createdAt lastUsedAt } }';
export const DELETE = 'mutation Del($id: ID!) { deletePasskey(id: $id) }';
export const LOGIN_START = 'mutation LoginStart($i: String) { startPasskeyLogin(identifier: $i) { challengeId options } }';
export const LOGIN_FINISH = `mutation LoginFinish($c: ID!, $r: JSON!) { finishPasskeyLogin(challengeId: $c, response: $r) { ${PAYLOAD} } }`;

export interface Challenge {
  challengeId: string;
  options: Json;
}
export interface PasskeyRow {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export const startRegistration = (server: Server, accessToken: string, code?: string) =>
  gql<{ startPasskeyRegistration: Challenge }>(server, REG_START, { code }, bearer(accessToken));

export const finishRegistration = (server: Server, accessToken: string, challengeId: string, response: Json, name?: string) =>
  gql<{ finishPasskeyRegistration: PasskeyRow }>(server, REG_FINISH, { c: challengeId, r: response, n: name }, bearer(accessToken));

/** Registers a passkey of the authenticator on the account; returns the row and the credential's id. */
export async function addPasskey(server: Server, auth: SoftAuthenticator, accessToken: string, opts: { name?: string; code?: string; ceremony?: CeremonyOptions } = {}) {
  const start = await startRegistration(server, accessToken, opts.code);
  expect(start.body.errors, JSON.stringify(start.body.errors)).toBeUndefined();
  const { challengeId, options } = start.body.data!.startPasskeyRegistration;
  const response = auth.create(options, opts.ceremony);
  const done = await finishRegistration(server, accessToken, challengeId, response, opts.name);
  expect(done.body.errors, JSON.stringify(done.body.errors)).toBeUndefined();
  return { passkey: done.body.data!.finishPasskeyRegistration, credentialId: response.id as string, options };
}

export const startLogin = (server: Server, identifier?: string, headers: Record<string, string> = {}) =>
  gql<{ startPasskeyLogin: Challenge }>(server, LOGIN_START, { i: identifier }, headers);

export const finishLogin = (server: Server, challengeId: string, response: Json, headers: Record<string, string> = {}) =>
  gql<{ finishPasskeyLogin: Tokens }>(server, LOGIN_FINISH, { c: challengeId, r: response }, headers);

/** A whole passkey sign-in: options (with or without an identifier), the authenticator's assertion, the finish. */
export async function passkeySignIn(server: Server, auth: SoftAuthenticator, opts: AssertOptions & { identifier?: string; headers?: Record<string, string> } = {}) {
  const start = await startLogin(server, opts.identifier, opts.headers);
  expect(start.body.errors, JSON.stringify(start.body.errors)).toBeUndefined();
  const { challengeId, options } = start.body.data!.startPasskeyLogin;
  return finishLogin(server, challengeId, auth.assert(options, opts), opts.headers);
}
