import { randomUUID } from 'node:crypto';
import { AppError, isAppError, type ErrorCode } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { Principal, RequestMeta } from '../../core/request.js';
import type { StatementPart } from '../../core/tx.js';
import type { SecuritySignals, SignUpOutcome } from '../alerts/security-signals.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { RateLimitedError, type Limits } from '../../infra/rate-limit.js';
import { byAddress, fieldOf } from '../../infra/limit-spec.js';
import { auditPart, recordAudit } from '../audit/audit.repository.js';
import type { AuditTrail, SignInFailureInput } from '../audit/audit-trail.js';
import { loginLimit, ownerProofLimit } from './accounts.limits.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { PasswordHasher } from '../identity/password.js';
import { admitSignIn } from '../identity/account-standing.js';
import { checkPasswordPolicy } from '../identity/password-policy.js';
import { IdentifierTaken, type UserRecord, type UsersRepository } from '../identity/users.repository.js';
import type { MfaChallengeResult, MfaService } from '../mfa/mfa.service.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import type { AccountLock } from './account-lock.js';
import type { AuthResult, SignIn } from './sign-in.js';
import { changePasswordSchema, loginSchema, reauthenticateSchema, registerSchema } from './accounts.schema.js';
import { accountSubject, assertUnlocked, identifierSubject, sourceOf, type FailureOutcome, type LockAsk, type LockRead, type Lockout } from './lockout.js';

/** What sign-up needs from email verification: a token and its email, written by the sign-up statement. */
export interface SignUpVerification {
  issueParts(user: Pick<UserRecord, 'id' | 'username' | 'email'>): StatementPart[];
  afterCommit(): void;
}

export interface AccountsDeps {
  users: UsersRepository;
  identity: Pick<IdentityService, 'account'>;
  verification: SignUpVerification;
  lockout: Lockout;
  lock: Pick<AccountLock, 'lock' | 'failures'>;
  signIn: SignIn;
  mfa: Pick<MfaService, 'challenge' | 'stepUp'>;
  sessions: SessionsService;
  hasher: PasswordHasher;
  passwordMinLength: number;
  /** Login (per IP and identifier, per IP), and proofs of the owner (reauthenticate, changePassword): per account and, with login, per IP. */
  limits: Pick<Limits, 'consumeAll' | 'consumeAllThen'>;
  /** Refusals (which write nothing else) get an audit entry of their own. */
  audit: Pick<AuditTrail, 'signInFailed' | 'record'>;
  /** Names of this deployment a password must not lean on (see `serviceNamesOf`). */
  passwordServiceNames?: readonly string[];
  /** Told of failed sign-ins and of every sign-up's outcome (metrics and alert rules). */
  signals: Pick<SecuritySignals, 'signInFailed' | 'signUp'>;
}

export type { AuthResult };

/** The login limits, then the lockout's reads of these asks (`limitLoginThenRead`). */
type LimitedRead = (asks: LockAsk[]) => Promise<LockRead[]>;

/** When the longest of these locks ends (null: when unlocked). */
const laterEnd = (locks: FailureOutcome[]): Date | null =>
  locks.map((o) => o.until).reduce((a, b) => (a === null || b === null ? null : a > b ? a : b));

/** The answers of `login` that are a failed sign-in (a rate-limited attempt is counted by its limit). */
const SIGN_IN_FAILURES: ReadonlySet<ErrorCode> = new Set(['INVALID_CREDENTIALS', 'ACCOUNT_LOCKED', 'ACCOUNT_DISABLED']);

/** What a refused sign-up came to, from its error. */
function signUpOutcomeOf(e: unknown): SignUpOutcome {
  if (!isAppError(e)) return 'error';
  switch (e.code) {
    case 'BAD_USER_INPUT':
      return 'invalid';
    case 'WEAK_PASSWORD':
      return 'weak_password';
    case 'EMAIL_TAKEN':
    case 'USERNAME_TAKEN':
      return 'taken';
    case 'RATE_LIMITED':
      return 'rate_limited';
    default:
      return 'error';
  }
}

/** Same words for an unknown identifier and a wrong password, so the answer reveals nothing. */
const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'The identifier or password is incorrect');

const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);

/** What a refused proof of the owner is audited as: the operation it guarded. */
export type ProofPurpose = 'user.reauthenticated' | 'user.password_changed' | 'user.deleted';

/** Accounts: sign-up, sign-in by password, and the owner's proofs (reauthenticate, password change). Knows nothing of HTTP or GraphQL. */
export class AccountsService {
  constructor(private readonly deps: AccountsDeps) {}

  /** Sign-up; its outcome, created or why not, is reported to the signals (a refusal may feed `signup_burst`). */
  async register(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    let outcome: SignUpOutcome = 'error';
    try {
      const result = await this.createAccount(input, meta);
      outcome = 'created';
      return result;
    } catch (e) {
      outcome = signUpOutcomeOf(e);
      throw e;
    } finally {
      await this.deps.signals.signUp(outcome, meta);
    }
  }

  /**
   * One statement (its own transaction, one round trip): the user, `user.registered`, the verification
   * token and its email (row and outbox job), and its first session (with its refresh token, SIGNED_IN and
   * `user.signed_in`). Every id and value is computed here first, so no part reads another's result. The
   * unique indexes decide every race, and a failure anywhere leaves nothing behind.
   */
  private async createAccount(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    const data = parseInput(registerSchema, input);
    checkPasswordPolicy(data.password, { minLength: this.deps.passwordMinLength, context: [data.username, data.email], serviceNames: this.deps.passwordServiceNames });
    const passwordHash = await this.deps.hasher.hash(data.password);
    const account = { id: randomUUID(), username: data.username, email: data.email };
    const at = new Date();
    const session = this.deps.sessions.openingParts(account.id, meta, 'sign_up');
    try {
      const user = await this.deps.users.createWith({ ...account, passwordHash, at }, [
        auditPart(meta, [{ action: 'user.registered', outcome: 'SUCCESS', actorId: account.id, targetUserId: account.id }], { at }),
        ...this.deps.verification.issueParts(account),
        ...session.parts,
      ]);
      this.deps.verification.afterCommit();
      return { ...(await session.issue()), user };
    } catch (e) {
      if (!(e instanceof IdentifierTaken)) throw e;
      if (e.field === 'email') throw new AppError('EMAIL_TAKEN', 'An account with this email already exists', { fields: { email: 'is already registered' } });
      throw new AppError('USERNAME_TAKEN', 'This username is taken', { fields: { username: 'is already taken' } });
    }
  }

  /**
   * Unknown identifier and wrong password take the same path through bcrypt (a dummy hash for the former),
   * so neither the message nor the timing tells an attacker which accounts exist.
   *
   * Lockout (README "Abuse protection"): from a known device of the account (a session from this address
   * and client within 30 days), only that device's own failures count and only its own lock blocks it.
   * From anywhere else, failures count per identifier as typed (the lock a caller can see, the same for
   * every identifier, known or not) and per account (a lock shown to no one: a wrong password and a locked
   * account answer alike), so locking `alice` says nothing about `alice@example.com`.
   *
   * Every refusal is audited (`user.sign_in_failed`, the identifier as a keyed hash): with its own INSERT,
   * run beside the lockout's Redis writes rather than after them.
   *
   * Redis, for a sign-in: the login limits and the lock state it needs in one script, and after a correct
   * password a clear only of counts that exist. The script runs after the account lookup, which says which
   * locks to read: an attempt the limits refuse costs that one query, never a password check. Malformed
   * input is charged to the limits too, as any attempt is, and a spent limit answers before its error.
   */
  async login(input: unknown, meta: RequestMeta): Promise<AuthResult | MfaChallengeResult> {
    let credentials: { identifier: string; password: string };
    try {
      credentials = parseInput(loginSchema, input);
    } catch (e) {
      await this.limitLogin(input, meta);
      throw e;
    }
    const { identifier, password } = credentials;
    try {
      return await this.loginWithPassword(input, identifier, password, meta);
    } catch (e) {
      // Only a failure is reported: a successful sign-in pays nothing for the counting.
      if (isAppError(e) && SIGN_IN_FAILURES.has(e.code)) await this.deps.signals.signInFailed(identifier, meta);
      throw e;
    }
  }

  private async loginWithPassword(input: unknown, identifier: string, password: string, meta: RequestMeta): Promise<AuthResult | MfaChallengeResult> {
    // The account and the known-device question in one round trip (the same read runs for an unknown
    // identifier: no account, never known).
    const { user, knownDevice: known } = await this.deps.users.findForSignIn(identifier, meta, this.deps.sessions.knownDeviceSince());
    const limited = (asks: LockAsk[]) => this.limitLoginThenRead(input, meta, asks);
    const signedIn = user && known ? await this.passwordFromKnownDevice(user, identifier, password, meta, limited) : await this.passwordFromElsewhere(identifier, user, password, meta, limited);
    try {
      // Only now, the password verified, may the answer say the account is disabled (SignIn.finish asks again).
      admitSignIn(signedIn);
      // A correct password with MFA on earns a challenge, not tokens (and not a session); the failure counts
      // start again only once the code is right too (MfaService.completeLogin), so wrong codes add up.
      if (signedIn.mfaEnabledAt) {
        await this.deps.signIn.upgradeHash(signedIn, password);
        return await this.deps.mfa.challenge(signedIn);
      }
      // The device question was asked before the password check: one query per sign-in, not two.
      return await this.deps.signIn.finish(signedIn, meta, { password, knownDevice: known });
    } catch (e) {
      if (codeOf(e) === 'ACCOUNT_DISABLED') await this.deps.audit.signInFailed(meta, { reason: 'disabled', userId: signedIn.id, identifier });
      throw e;
    }
  }

  /** The login limits (per IP and identifier, per IP); the first refusal of each window is audited. */
  private async limitLogin(input: unknown, meta: RequestMeta): Promise<void> {
    try {
      await this.deps.limits.consumeAll(loginLimit(input, byAddress(meta.ip)), meta);
    } catch (e) {
      throw await this.auditedLimit(e, input, meta);
    }
  }

  /**
   * The login limits as `limitLogin` counts them, then (once they pass) the lockout's reads of `asks`, in
   * one Redis round trip: no lock is read for an attempt the limits refuse.
   */
  private async limitLoginThenRead(input: unknown, meta: RequestMeta, asks: LockAsk[]): Promise<LockRead[]> {
    try {
      return await this.deps.limits.consumeAllThen(loginLimit(input, byAddress(meta.ip)), this.deps.lockout.readAfterLimits(asks), meta);
    } catch (e) {
      throw await this.auditedLimit(e, input, meta);
    }
  }

  /** `e`, after auditing it when it is the first refusal of a login limit's window. */
  private async auditedLimit(e: unknown, input: unknown, meta: RequestMeta): Promise<unknown> {
    if (e instanceof RateLimitedError && e.firstInWindow) {
      const typed = fieldOf(input, 'identifier');
      await this.deps.audit.signInFailed(meta, { reason: 'rate_limited', ...(typeof typed === 'string' ? { identifier: typed } : {}), details: { limit: e.limit } });
    }
    return e;
  }

  /** A lockout check: a lock refuses the sign-in, audited as `locked`. */
  private async lockCheck(read: LockRead, meta: RequestMeta, refusal: SignInFailureInput): Promise<void> {
    if (!read.state.locked) return;
    await this.deps.audit.signInFailed(meta, refusal);
    assertUnlocked(read.state);
  }

  private async passwordFromKnownDevice(user: UserRecord, identifier: string, password: string, meta: RequestMeta, limited: LimitedRead): Promise<UserRecord> {
    const account = accountSubject(user.id);
    const here = { source: sourceOf(meta) };
    // Only this device's own lock (never the account's, which strangers may have caused).
    const [device] = await limited([{ subject: account, opts: here }]);
    await this.lockCheck(device!, meta, { reason: 'locked', userId: user.id, identifier });
    if (!(await this.deps.hasher.verify(password, user.passwordHash))) {
      const [outcome] = await Promise.all([
        this.deps.lockout.recordFailure(account, here),
        this.deps.audit.signInFailed(meta, { reason: 'invalid_credentials', userId: user.id, identifier }),
      ]);
      if (outcome.lockedNow) await this.deps.lock.lock(user, outcome.until, meta);
      throw invalidCredentials();
    }
    // Failures are counted in a row: the device's start over (for an MFA account once the code is right too).
    if (!user.mfaEnabledAt) await this.deps.lockout.clearCounted([device!]);
    return user;
  }

  private async passwordFromElsewhere(identifier: string, user: UserRecord | null, password: string, meta: RequestMeta, limited: LimitedRead): Promise<UserRecord> {
    const typed = identifierSubject(identifier);
    const account = user ? accountSubject(user.id) : null;
    // Both locks with the limits, in one Redis round trip: the identifier's (shown to the caller) and the account's.
    const reads = await limited(account ? [{ subject: typed }, { subject: account, durableUntil: user?.lockedUntil }] : [{ subject: typed }]);
    const [typedRead, accountRead] = reads;
    const accountLock = accountRead?.state ?? { locked: false };
    await this.lockCheck(typedRead!, meta, { reason: 'locked', userId: user?.id ?? null, identifier });
    // While the account is locked for unknown sources no guess is checked, not even a right one, and the
    // answer is a wrong password's: what a caller sees depends only on what was tried with this identifier.
    const candidate = accountLock.locked ? null : user;
    const ok = candidate ? await this.deps.hasher.verify(password, candidate.passwordHash) : await this.deps.hasher.verifyDummy(password);
    if (!candidate || !ok) {
      // The operator's record says what the caller is not told: that the account's own lock refused it.
      const reason = accountLock.locked ? 'locked' : 'invalid_credentials';
      const [byIdentifier, byAccount] = await Promise.all([
        this.deps.lockout.recordFailure(typed),
        candidate && account ? this.deps.lockout.recordFailure(account) : undefined,
        this.deps.audit.signInFailed(meta, { reason, userId: user?.id ?? null, identifier }),
      ]);
      const lockedNow = [byIdentifier, byAccount].filter((o): o is FailureOutcome => o?.lockedNow === true);
      if (user && lockedNow.length > 0) await this.deps.lock.lock(user, laterEnd(lockedNow), meta, byAccount?.lockedNow ? byAccount : undefined);
      throw invalidCredentials();
    }
    // The owner is in: failures are counted in a row, so this identifier's and the account's start over
    // (for an MFA account once the code is right too).
    if (!candidate.mfaEnabledAt) await this.deps.lockout.clearCounted(reads);
    return candidate;
  }

  /**
   * The one check of "the owner proves it is them" behind reauthenticate and changePassword: the password,
   * plus a current code when MFA is on. Limited per account and per IP before any bcrypt, every failure
   * counts toward the account's lockout, and every failure (wrong password, missing or wrong code) answers
   * INVALID_CREDENTIALS, so it tells a token thief nothing about which part was right.
   */
  private async proveOwner(user: UserRecord, password: string, code: string | null | undefined, meta: RequestMeta, purpose: ProofPurpose, sessionId: string): Promise<void> {
    const refused = (reason: string) =>
      this.deps.audit.record(meta, [{ action: purpose, outcome: 'FAILURE', actorId: user.id, targetUserId: user.id, sessionId, details: { reason } }]);
    try {
      await this.deps.limits.consumeAll(ownerProofLimit({ userId: user.id }, byAddress(meta.ip)), meta);
      await this.deps.lock.failures.check(user, meta);
    } catch (e) {
      if (e instanceof RateLimitedError ? e.firstInWindow : codeOf(e) === 'ACCOUNT_LOCKED') await refused(codeOf(e) === 'ACCOUNT_LOCKED' ? 'locked' : 'rate_limited');
      throw e;
    }
    const { failures } = this.deps.lock;
    const ok = (await this.deps.hasher.verify(password, user.passwordHash)) && (await this.deps.mfa.stepUp(user, code));
    if (!ok) {
      await Promise.all([failures.record(user, meta), refused('invalid_credentials')]);
      throw invalidCredentials();
    }
    await failures.clear(user, meta);
  }

  /** Proves it is the owner again; the session counts as recently authenticated from now (REAUTH_MAX_AGE_SECONDS). */
  async reauthenticate(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    await this.confirmOwner(principal, input, meta, 'user.reauthenticated');
    await this.deps.sessions.markReauthenticated(principal, meta);
  }

  /**
   * The owner's proof (`{ password, code }`) for another feature's sensitive operation, such as deleting
   * the account: the same check, limits, lockout and answers as `reauthenticate`.
   */
  async confirmOwner(principal: Principal, input: unknown, meta: RequestMeta, purpose: ProofPurpose): Promise<void> {
    const { password, code } = parseInput(reauthenticateSchema, input);
    const user = await this.deps.identity.account(principal.userId);
    await this.proveOwner(user, password, code, meta, purpose, principal.sessionId);
  }

  /** Needs the current password; the new hash, PASSWORD_CHANGED and the end of every other session commit together. */
  async changePassword(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { currentPassword, newPassword, code } = parseInput(changePasswordSchema, input);
    const user = await this.deps.identity.account(principal.userId);
    // With MFA on, a stolen session plus a guessed password is not enough to take the account.
    await this.proveOwner(user, currentPassword, code, meta, 'user.password_changed', principal.sessionId);
    checkPasswordPolicy(newPassword, {
      minLength: this.deps.passwordMinLength,
      context: [user.username, user.email],
      serviceNames: this.deps.passwordServiceNames,
      field: 'newPassword',
    });
    const passwordHash = await this.deps.hasher.hash(newPassword);
    await this.deps.users.transaction(async (tx) => {
      await this.deps.users.updatePasswordHash(tx, user.id, passwordHash, new Date());
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'PASSWORD_CHANGED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
      await recordAudit(tx, meta, [{ action: 'user.password_changed', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId }]);
      await this.deps.sessions.endAllBut(user.id, principal.sessionId, 'password_changed', meta, tx);
    });
  }
}
