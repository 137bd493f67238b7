import { AppError } from '../../infra/errors.js';
import type { Prisma } from '../../infra/db/index.js';
import { uniqueViolation } from '../../infra/db/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { RequestMeta } from '../../http/request-meta.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { Limits } from '../../infra/rate-limit.js';
import { byAddress } from '../../infra/limit-spec.js';
import type { AccountFailures, MfaChallengeResult, MfaService } from '../mfa/mfa.service.js';
import type { Principal, SessionsService } from '../sessions/sessions.service.js';
import type { AuthResult, SignIn } from './sign-in.js';
import type { AccountsRepository, UserProfile, UserRecord } from './accounts.repository.js';
import { parseProfile, type ProfileCache } from './profile-cache.js';
import { changePasswordSchema, loginSchema, reauthenticateSchema, registerSchema } from './accounts.schema.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import type { MailService } from '../mail/mail.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { accountSubject, identifierSubject, lockSubjects, sourceOf, type FailureOutcome, type Lockout } from './lockout.js';
import type { PasswordHasher } from './password.js';
import { checkPasswordPolicy } from './password-policy.js';

/** What sign-up needs from email verification: a token and its email inside the sign-up transaction. */
export interface SignUpVerification {
  issue(tx: Prisma.TransactionClient, user: Pick<UserRecord, 'id' | 'username' | 'email'>): Promise<void>;
  afterCommit(): void;
}

export interface AccountsDeps {
  repo: AccountsRepository;
  verification: SignUpVerification;
  /** Sign-in notices go through the email pipeline, so users with no open client learn of them too. */
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  lockout: Lockout;
  tokens: OneTimeTokensRepository;
  signIn: SignIn;
  mfa: Pick<MfaService, 'challenge' | 'stepUp'>;
  profiles: Pick<ProfileCache, 'set'>;
  /** Base of the unlock link in the account-locked email (PUBLIC_URL). */
  publicUrl: string;
  sessions: SessionsService;
  hasher: PasswordHasher;
  passwordMinLength: number;
  /** Proofs of the owner (reauthenticate, changePassword): per account and, with login, per IP. */
  limits: Pick<Limits, 'consume'>;
  /** Names of this deployment a password must not lean on (see `serviceNamesOf`). */
  passwordServiceNames?: readonly string[];
}

export type { AuthResult };

export const UNLOCK_TTL_SECONDS = 24 * 3600;
/** A lock only the unlock link or a reset lifts is stored as this far ahead. */
const FOREVER_MS = 100 * 365 * 86_400_000;

/** When the longest of these locks ends (null: when unlocked). */
const laterEnd = (locks: FailureOutcome[]): Date | null =>
  locks.map((o) => o.until).reduce((a, b) => (a === null || b === null ? null : a > b ? a : b));

const invalidUnlockToken = () => new AppError('INVALID_TOKEN', 'This unlock link is invalid, used or expired');

/** Same words for an unknown identifier and a wrong password, so the answer reveals nothing. */
const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'The identifier or password is incorrect');

/** Accounts: sign-up, sign-in and password change (CONTRACT.md §2-§3). Knows nothing of HTTP or GraphQL. */
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
      const { user, issue } = await this.deps.repo.transaction(async (tx) => {
        const user = await this.deps.repo.create(tx, { username: data.username, email: data.email, passwordHash });
        await this.deps.verification.issue(tx, user);
        return { user, issue: await this.deps.sessions.open(tx, user.id, meta) };
      });
      this.deps.verification.afterCommit();
      return { ...(await issue()), user };
    } catch (e) {
      const index = uniqueViolation(e);
      if (index?.includes('email')) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists', { fields: { email: 'is already registered' } });
      if (index?.includes('username')) throw new AppError('USERNAME_TAKEN', 'This username is taken', { fields: { username: 'is already taken' } });
      throw e;
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
    const user = await this.deps.repo.findByIdentifier(identifier);
    // The same query runs for an unknown identifier (no account: never known).
    const known = await this.deps.signIn.isKnownDevice(user?.id ?? null, meta);
    const signedIn = user && known ? await this.passwordFromKnownDevice(user, password, meta) : await this.passwordFromElsewhere(identifier, user, password, meta);
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
      if (outcome.lockedNow) await this.lock(user, outcome.until, meta);
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
      if (user && lockedNow.length > 0) await this.lock(user, laterEnd(lockedNow), meta, byAccount?.lockedNow ? byAccount : undefined);
      throw invalidCredentials();
    }
    // The owner is in: failures are counted in a row, so this identifier's and the account's start over
    // (for an MFA account once the code is right too).
    if (!candidate.mfaEnabledAt) await Promise.all([this.deps.lockout.clear(typed), this.deps.lockout.clear(accountSubject(candidate.id))]);
    return candidate;
  }

  /**
   * ACCOUNT_LOCKED and the email with an unlock link, in one transaction; with `accountLock` (the
   * account-wide lock for unknown sources) also its durable copy, `lockedUntil`, which outlives Redis.
   */
  private async lock(user: UserRecord, until: Date | null, meta: RequestMeta, accountLock?: FailureOutcome): Promise<void> {
    const shownUntil = until ?? new Date(Date.now() + FOREVER_MS);
    await this.deps.repo.transaction(async (tx) => {
      if (accountLock) await tx.user.update({ where: { id: user.id }, data: { lockedUntil: accountLock.until ?? new Date(Date.now() + FOREVER_MS) } });
      await recordSecurityEvents(tx, [{ userId: user.id, type: 'ACCOUNT_LOCKED', ip: meta.ip, userAgent: meta.userAgent, data: { until: until?.toISOString() ?? null } }]);
      const token = await this.deps.tokens.issue(tx, user.id, 'ACCOUNT_UNLOCK', UNLOCK_TTL_SECONDS, { voidOlder: true });
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'account-locked',
        data: { username: user.username, until: shownUntil.toISOString(), unlockLink: `${this.deps.publicUrl}/auth/unlock-account?token=${encodeURIComponent(token)}` },
        secret: ['unlockLink'],
      });
    });
    this.deps.mail.afterCommit();
  }

  /** What the unlock link will do, without doing it (a GET: mail scanners follow links): INVALID_TOKEN unless usable. */
  async checkUnlockToken(input: unknown): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    if (!(await this.deps.tokens.peek(token, 'ACCOUNT_UNLOCK'))) throw invalidUnlockToken();
  }

  /**
   * The unlock link, POSTed: consumes its token (one statement) and lifts every lock of the account (the
   * durable one too), while the count of failures in a row stays: past the ceiling, the next failure
   * from an unknown source locks it again. Only a successful sign-in or a password reset starts it over.
   */
  async unlock(input: unknown): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    const user = await this.deps.repo.transaction(async (tx) => {
      const owner = await this.deps.tokens.consume(tx, token, 'ACCOUNT_UNLOCK');
      if (!owner) throw invalidUnlockToken();
      return tx.user.update({ where: { id: owner }, data: { lockedUntil: null }, select: { id: true, username: true, email: true } });
    });
    const { account, identifiers } = lockSubjects(user);
    await Promise.all([account, ...identifiers].map((s) => this.deps.lockout.lift(s)));
  }

  /** The caller's account: from the profile cached beside the session when there is one, else PostgreSQL. */
  async me(principal: Principal & { cachedProfile?: string }): Promise<UserProfile> {
    const cached = principal.cachedProfile ? parseProfile(principal.cachedProfile) : null;
    if (cached?.id === principal.userId) return cached;
    const user = await this.account(principal.userId);
    await this.deps.profiles.set(user);
    return user;
  }

  private async account(userId: string): Promise<UserRecord> {
    const user = await this.deps.repo.findById(userId);
    if (!user) throw new AppError('UNAUTHENTICATED', 'The account no longer exists');
    return user;
  }

  /**
   * The account's failure ceiling as the other proofs use it (wrong MFA codes, reauthenticate,
   * changePassword), counted like a password at login from the same place: from a known device of the
   * account under that device's own count and lock, from anywhere else under the account's (which strangers
   * may have locked, and which never blocks a known device). Reaching a threshold locks with the event and
   * email, as at login. The caller has proved the password or holds a session, so a lock is answered as one.
   */
  readonly failures: AccountFailures = {
    check: async (user, meta) => {
      const { subject, opts } = await this.failureScope(user, meta);
      await this.deps.lockout.check(subject, opts.source === undefined ? user.lockedUntil : null, opts);
    },
    record: async (user, meta) => {
      const { subject, opts } = await this.failureScope(user, meta);
      const outcome = await this.deps.lockout.recordFailure(subject, opts);
      if (outcome.lockedNow) await this.lock(user, outcome.until, meta, opts.source === undefined ? outcome : undefined);
    },
    clear: async (user, meta) => {
      const { subject, opts } = await this.failureScope(user, meta);
      if (opts.source !== undefined) return this.deps.lockout.clear(subject, opts);
      const { identifiers } = lockSubjects(user);
      await Promise.all([subject, ...identifiers].map((s) => this.deps.lockout.clear(s)));
    },
  };

  private async failureScope(user: UserRecord, meta: RequestMeta) {
    const known = await this.deps.signIn.isKnownDevice(user.id, meta);
    return { subject: accountSubject(user.id), opts: known ? { source: sourceOf(meta) } : {} };
  }

  /**
   * The one check of "the owner proves it is them" behind reauthenticate and changePassword: the password,
   * plus a current code when MFA is on. Limited per account and per IP before any bcrypt, every failure
   * counts toward the account's lockout, and every failure (wrong password, missing or wrong code) answers
   * INVALID_CREDENTIALS, so it tells a token thief nothing about which part was right.
   */
  private async proveOwner(user: UserRecord, password: string, code: string | null | undefined, meta: RequestMeta): Promise<void> {
    await this.deps.limits.consume('reauth', [user.id]);
    await this.deps.limits.consume('loginIp', [byAddress(meta.ip)]);
    await this.failures.check(user, meta);
    const ok = (await this.deps.hasher.verify(password, user.passwordHash)) && (await this.deps.mfa.stepUp(user, code));
    if (!ok) {
      await this.failures.record(user, meta);
      throw invalidCredentials();
    }
    await this.failures.clear(user, meta);
  }

  /** Proves it is the owner again; the session counts as recently authenticated from now (REAUTH_MAX_AGE_SECONDS). */
  async reauthenticate(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { password, code } = parseInput(reauthenticateSchema, input);
    const user = await this.account(principal.userId);
    await this.proveOwner(user, password, code, meta);
    await this.deps.sessions.markReauthenticated(principal);
  }

  /** Needs the current password; the new hash, PASSWORD_CHANGED and the end of every other session commit together. */
  async changePassword(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { currentPassword, newPassword, code } = parseInput(changePasswordSchema, input);
    const user = await this.account(principal.userId);
    // With MFA on, a stolen session plus a guessed password is not enough to take the account.
    await this.proveOwner(user, currentPassword, code, meta);
    checkPasswordPolicy(newPassword, {
      minLength: this.deps.passwordMinLength,
      context: [user.username, user.email],
      serviceNames: this.deps.passwordServiceNames,
      field: 'newPassword',
    });
    const passwordHash = await this.deps.hasher.hash(newPassword);
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.updatePasswordHash(tx, user.id, passwordHash, new Date());
      await recordSecurityEvents(tx, [{ userId: user.id, type: 'PASSWORD_CHANGED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
      await this.deps.sessions.endAllBut(user.id, principal.sessionId, 'password_changed', meta, tx);
    });
  }
}
