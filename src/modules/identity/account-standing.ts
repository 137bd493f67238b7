import type { Role } from '../../core/request.js';
import { AppError } from '../../infra/errors.js';
import type { Role as StoredRole } from '../../infra/db/enums.js';

/** What an account's standing is read from: its stored state (null: the account no longer exists). */
export interface StandingFields {
  readonly disabledAt: Date | null;
}

/** Whether an account may act, and if not, why. */
export type Standing = 'active' | 'disabled' | 'deleted';

/**
 * The one rule that says whether an account may act: sign in by any method, keep, refresh or use a
 * session, open or keep a socket. Every sign-in (`SessionsService.open`, under `SignIn.finish`, and the
 * MFA challenge before it), refresh rotation, the per-request session check and the WebSocket handshake
 * and re-checks ask here, so a new reason to refuse an account is added once, in this function.
 *
 * A lockout is not part of it on purpose: anyone who knows a username can cause one, so it stops password
 * checks from unknown places but never refuses the owner's sessions.
 */
export function accountStanding(account: StandingFields | null): Standing {
  if (!account) return 'deleted';
  if (account.disabledAt !== null) return 'disabled';
  return 'active';
}

/**
 * A sign-in, asked once its credential has been verified (so the answer tells nothing to someone without
 * it): ACCOUNT_DISABLED for a disabled account, INVALID_CREDENTIALS for one deleted meanwhile (as for an
 * unknown identifier).
 */
export function admitSignIn<A extends StandingFields>(account: A | null): asserts account is A {
  const standing = accountStanding(account);
  if (standing === 'disabled') throw new AppError('ACCOUNT_DISABLED', 'This account is disabled');
  if (standing === 'deleted') throw new AppError('INVALID_CREDENTIALS', 'The identifier or password is incorrect');
}

/**
 * A session's every use (a call, a refresh, a socket). An account that may not act holds no session, so the
 * answer is the one an ended session gets, UNAUTHENTICATED: the client signs in again, and the sign-in says
 * why. Disabling an account also ends its sessions; this gives the same answer before that reaches every
 * cache, and for a change made outside the API.
 */
export function admitSession<A extends StandingFields>(account: A | null): asserts account is A {
  const standing = accountStanding(account);
  if (standing === 'disabled') throw new AppError('UNAUTHENTICATED', 'The session has ended: the account is disabled');
  if (standing === 'deleted') throw new AppError('UNAUTHENTICATED', 'The account no longer exists');
}

/** Each role holds the ones before it. */
const RANK = { USER: 0, SUPPORT: 1, ADMIN: 2 } as const satisfies Record<Role, number>;

// The vocabulary's Role is the database's: a value added to one and not the other fails the build here.
const sameRoles: [Role] extends [StoredRole] ? ([StoredRole] extends [Role] ? true : never) : never = true;
void sameRoles;

/** Whether an account with role `held` may do what needs `needed` (ADMIN holds SUPPORT, SUPPORT holds USER). */
export const holdsRole = (held: Role, needed: Role): boolean => RANK[held] >= RANK[needed];

/** The role guard: the caller, if its current role holds `needed`; FORBIDDEN otherwise. */
export function requireRole<P extends { readonly role: Role }>(caller: P, needed: Role): P {
  if (!holdsRole(caller.role, needed)) throw new AppError('FORBIDDEN', 'Your account may not do this');
  return caller;
}
