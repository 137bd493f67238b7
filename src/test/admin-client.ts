import type { Role } from '../core/request.js';
import { bearer, newIdentity, register, rest, type Tokens } from './auth-client.js';
import { gql, type TestServer } from './harness.js';

/** Every field of `AdminUser`. */
export const ADMIN_USER = 'id username email emailVerified mfaEnabled createdAt role disabledAt disabledReason lockedUntil lastSignInAt activeSessions';

export interface AdminUserView {
  id: string;
  username: string;
  email: string;
  emailVerified: boolean;
  mfaEnabled: boolean;
  createdAt: string;
  role: Role;
  disabledAt: string | null;
  disabledReason: string | null;
  lockedUntil: string | null;
  lastSignInAt: string | null;
  activeSessions: number;
}

/** The admin API's operations as a client writes them. */
export const ADMIN_OPS = {
  users: `query Users($filter: UserFilter, $first: Int, $after: String) {
    users(filter: $filter, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${ADMIN_USER} } } } }`,
  user: `query OneUser($id: ID!) { user(id: $id) { ${ADMIN_USER} } }`,
  userSessions: 'query UserSessions($userId: ID!) { userSessions(userId: $userId) { id createdAt lastUsedAt ip userAgent current } }',
  disableUser: `mutation Disable($id: ID!, $reason: String) { disableUser(id: $id, reason: $reason) { ${ADMIN_USER} } }`,
  enableUser: `mutation Enable($id: ID!) { enableUser(id: $id) { ${ADMIN_USER} } }`,
  deleteUser: 'mutation Delete($id: ID!) { deleteUser(id: $id) }',
  revokeUserSessions: 'mutation Revoke($userId: ID!) { revokeUserSessions(userId: $userId) }',
  resetUserMfa: `mutation ResetMfa($id: ID!) { resetUserMfa(id: $id) { ${ADMIN_USER} } }`,
  unlockUser: `mutation Unlock($id: ID!) { unlockUser(id: $id) { ${ADMIN_USER} } }`,
  setUserRole: `mutation SetRole($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { ${ADMIN_USER} } }`,
} as const;

export type AdminOp = keyof typeof ADMIN_OPS;

export const DELETE_ACCOUNT = 'mutation DeleteAccount($password: String!, $code: String) { deleteAccount(password: $password, code: $code) }';

/** The variables that aim an operation at `userId`. */
export function variablesFor(op: AdminOp, userId: string): Record<string, unknown> {
  if (op === 'users') return { filter: { query: 'x' }, first: 5 };
  if (op === 'userSessions' || op === 'revokeUserSessions') return { userId };
  if (op === 'setUserRole') return { id: userId, role: 'SUPPORT' };
  if (op === 'disableUser') return { id: userId, reason: 'matrix' };
  return { id: userId };
}

export const adminCall = <T = Record<string, unknown>>(server: { url: string }, op: AdminOp, variables: Record<string, unknown>, accessToken?: string) =>
  gql<T>(server, ADMIN_OPS[op], variables, accessToken ? bearer(accessToken) : {});

export const adminRest = (server: { url: string }, method: string, path: string, accessToken?: string, body?: unknown) =>
  rest(server, method, `/v1/admin${path}`, body, accessToken ? bearer(accessToken) : {});

/**
 * A new account holding `role`, signed in. The role is given through the lifecycle service (as the command
 * line does): set-up, not the subject of the test.
 */
export async function accountWithRole(server: TestServer, role: Role, label = role.toLowerCase()): Promise<Tokens & { password: string }> {
  const t = await register(server, newIdentity(label));
  if (role !== 'USER') await server.services.lifecycle.setRole(t.user.id, role, null, null);
  return t;
}
