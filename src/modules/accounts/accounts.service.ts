import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { Principal, RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { Limits } from '../../infra/rate-limit.js';
import { byAddress } from '../../infra/limit-spec.js';
import { ownerProofLimit } from './accounts.limits.js';
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
import { accountSubject, identifierSubject, sourceOf, type FailureOutcome, type Lockout } from './lockout.js';

/** What sign-up needs from email verification: a token and its email inside the sign-up transaction. */
export interface SignUpVerification {
  issue(tx: Tx, user: Pick<UserRecord, 'id' | 'username' | 'email'>): Promise<void>;
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
  /** Proofs of the owner (reauthenticate, changePassword): per account and, with login, per IP. */
  limits: Pick<Limits, 'consumeAll'>;
  /** Names of this deployment a password must not lean on (see `serviceNamesOf`). */
  passwordServiceNames?: readonly string[];
}

export type { AuthResult };

/** When the longest of these locks ends (null: when unlocked). */
const laterEnd = (locks: FailureOutcome[]): Date | null =>
  locks.map((o) => o.until).reduce((a, b) => (a === null || b === null ? null : a > b ? a : b));

/** Same words for an unknown identifier and a wrong password, so the answer reveals nothing. */
const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'The identifier or password is incorrect');

/** Accounts: sign-up, sign-in by password, and the owner's proofs (reauthenticate, password change). Knows nothing of HTTP or GraphQL. */
export class AccountsService {
  constructor(private readonly deps: AccountsDeps) {}

  /**
   * One transaction: the user, its first session, SIGNED_IN, the verification token and its email job.
   * The unique indexes decide every race, and a failure anywhere leaves nothing behind.
   */
  async register(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    const data = parseInput(registerSchema, input);
    checkPasswordPolicy(data.password, { minLength: this.deps.passwordMinLength, context: [data.username, data.email], serviceNames: this.deps.passwordServiceNames });
    const passwordHash = await this.deps.hasher.hash(data.password);
    try {
      const { user, issue } = await this.deps.users.transaction(async (tx) => {
        const user = await this.deps.users.create(tx, { username: data.username, email: data.email, passwordHash });
        await this.deps.verification.issue(tx, user);
        return { user, issue: await this.deps.sessions.open(tx, user.id, meta) };
      });
      this.deps.verification.afterCommit();
      return { ...(await issue()), user };
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
   */
  async login(input: unknown, meta: RequestMeta): Promise<AuthResult | MfaChallengeResult> {
    const { identifier, password } = parseInput(loginSchema, input);
    const user = await this.deps.users.findByIdentifier(identifier);
    // The same query runs for an unknown identifier (no account: never known).
    const known = await this.deps.sessions.isKnownDevice(user?.id ?? null, meta);
    const signedIn = user && known ? await this.passwordFromKnownDevice(user, password, meta) : await this.passwordFromElsewhere(identifier, user, password, meta);
    // Only now, the password verified, may the answer say the account is disabled (SignIn.finish asks again).
    admitSignIn(signedIn);
    // A correct password with MFA on earns a challenge, not tokens (and not a session); the failure counts
    // start again only once the code is right too (MfaService.completeLogin), so wrong codes add up.
    if (signedIn.mfaEnabledAt) {
      await this.deps.signIn.upgradeHash(signedIn, password);
      return this.deps.mfa.challenge(signedIn);
    }
    return this.deps.signIn.finish(signedIn, meta, { password });
  }

  private async passwordFromKnownDevice(user: UserRecord, password: string, meta: RequestMeta): Promise<UserRecord> {
    const account = accountSubject(user.id);
    const here = { source: sourceOf(meta) };
    await this.deps.lockout.check(account, null, here);
    if (!(await this.deps.hasher.verify(password, user.passwordHash))) {
      const outcome = await this.deps.lockout.recordFailure(account, here);
      if (outcome.lockedNow) await this.deps.lock.lock(user, outcome.until, meta);
      throw invalidCredentials();
    }
    if (!user.mfaEnabledAt) await this.deps.lockout.clear(account, here);
    return user;
  }

  private async passwordFromElsewhere(identifier: string, user: UserRecord | null, password: string, meta: RequestMeta): Promise<UserRecord> {
    const typed = identifierSubject(identifier);
    const account = user ? accountSubject(user.id) : null;
    const [, accountLock] = await Promise.all([
      this.deps.lockout.check(typed),
      account ? this.deps.lockout.state(account, user?.lockedUntil) : { locked: false },
    ]);
    // While the account is locked for unknown sources no guess is checked, not even a right one, and the
    // answer is a wrong password's: what a caller sees depends only on what was tried with this identifier.
    const candidate = accountLock.locked ? null : user;
    const ok = candidate ? await this.deps.hasher.verify(password, candidate.passwordHash) : await this.deps.hasher.verifyDummy(password);
    if (!candidate || !ok) {
      const [byIdentifier, byAccount] = await Promise.all([
        this.deps.lockout.recordFailure(typed),
        candidate && account ? this.deps.lockout.recordFailure(account) : undefined,
      ]);
      const lockedNow = [byIdentifier, byAccount].filter((o): o is FailureOutcome => o?.lockedNow === true);
      if (user && lockedNow.length > 0) await this.deps.lock.lock(user, laterEnd(lockedNow), meta, byAccount?.lockedNow ? byAccount : undefined);
      throw invalidCredentials();
    }
    // The owner is in: failures are counted in a row, so this identifier's and the account's start over
    // (for an MFA account once the code is right too).
    if (!candidate.mfaEnabledAt) await Promise.all([this.deps.lockout.clear(typed), this.deps.lockout.clear(accountSubject(candidate.id))]);
    return candidate;
  }

  /**
   * The one check of "the owner proves it is them" behind reauthenticate and changePassword: the password,
   * plus a current code when MFA is on. Limited per account and per IP before any bcrypt, every failure
   * counts toward the account's lockout, and every failure (wrong password, missing or wrong code) answers
   * INVALID_CREDENTIALS, so it tells a token thief nothing about which part was right.
   */
  private async proveOwner(user: UserRecord, password: string, code: string | null | undefined, meta: RequestMeta): Promise<void> {
    await this.deps.limits.consumeAll(ownerProofLimit({ userId: user.id }, byAddress(meta.ip)));
    const { failures } = this.deps.lock;
    await failures.check(user, meta);
    const ok = (await this.deps.hasher.verify(password, user.passwordHash)) && (await this.deps.mfa.stepUp(user, code));
    if (!ok) {
      await failures.record(user, meta);
      throw invalidCredentials();
    }
    await failures.clear(user, meta);
  }

  /** Proves it is the owner again; the session counts as recently authenticated from now (REAUTH_MAX_AGE_SECONDS). */
  async reauthenticate(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    await this.confirmOwner(principal, input, meta);
    await this.deps.sessions.markReauthenticated(principal);
  }

  /**
   * The owner's proof (`{ password, code }`) for another feature's sensitive operation, such as deleting
   * the account: the same check, limits, lockout and answers as `reauthenticate`.
   */
  async confirmOwner(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { password, code } = parseInput(reauthenticateSchema, input);
    const user = await this.deps.identity.account(principal.userId);
    await this.proveOwner(user, password, code, meta);
  }

  /** Needs the current password; the new hash, PASSWORD_CHANGED and the end of every other session commit together. */
  async changePassword(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { currentPassword, newPassword, code } = parseInput(changePasswordSchema, input);
    const user = await this.deps.identity.account(principal.userId);
    // With MFA on, a stolen session plus a guessed password is not enough to take the account.
    await this.proveOwner(user, currentPassword, code, meta);
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
      await this.deps.sessions.endAllBut(user.id, principal.sessionId, 'password_changed', meta, tx);
    });
  }
}
