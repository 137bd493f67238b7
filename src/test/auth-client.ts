import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { gql } from './harness.js';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
  user: { id: string; username: string; email: string; emailVerified: boolean; mfaEnabled: boolean; createdAt: string };
}

export const PAYLOAD = 'accessToken refreshToken tokenType expiresIn user { id username email emailVerified mfaEnabled createdAt }';
export const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`;
export const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { __typename ... on AuthPayload { ${PAYLOAD} } } }`;
export const REFRESH = `mutation Refresh($t: String!) { refresh(refreshToken: $t) { ${PAYLOAD} } }`;
export const ME = 'query Me { me { id username email emailVerified mfaEnabled createdAt } }';

type Server = { url: string };
type GqlError = { message: string; extensions?: Record<string, unknown> };

/** A fresh, valid identity; the password is long and random so it is never on the common list. */
export function newIdentity(label = 'user') {
  const tag = randomBytes(4).toString('hex');
  return { username: `${label}_${tag}`, email: `${label}.${tag}@Example.COM`, password: `pw-${randomBytes(9).toString('base64url')}-ok` };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function register(server: Server, identity = newIdentity(), headers: Record<string, string> = {}): Promise<Tokens & { password: string }> {
  const res = await gql<{ register: Tokens }>(server, REGISTER, { input: identity }, headers);
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return { ...res.body.data!.register, password: identity.password };
}

export async function login(server: Server, identifier: string, password: string, headers: Record<string, string> = {}) {
  return gql<{ login: Tokens & { __typename: string } }>(server, LOGIN, { input: { identifier, password } }, headers);
}

/** The first error's code, or undefined when the call succeeded. */
export const codeOf = (body: { errors?: GqlError[] }) => body.errors?.[0]?.extensions?.code as string | undefined;

export async function me(server: Server, accessToken: string) {
  return gql<{ me: Tokens['user'] }>(server, ME, undefined, bearer(accessToken));
}

export async function refresh(server: Server, refreshToken: string) {
  return gql<{ refresh: Tokens }>(server, REFRESH, { t: refreshToken });
}

export async function rest(server: Server, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
}
