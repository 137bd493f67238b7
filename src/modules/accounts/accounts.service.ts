import { AppError } from '../../infra/errors.js';
import type { Prisma } from '../../infra/db/index.js';
import { uniqueViolation } from '../../infra/db/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { RequestMeta } from '../../http/request-meta.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { MfaChallengeResult, MfaService } from '../mfa/mfa.service.js';
import type { Principal, SessionsService } from '../sessions/sessions.service.js';
import type { AuthResult, SignIn } from './sign-in.js';
import type { AccountsRepository, UserProfile, UserRecord } from './accounts.repository.js';
import { parseProfile, type ProfileCache } from './profile-cache.js';
import { changePasswordSchema, loginSchema, normalizeEmail, registerSchema } from './accounts.schema.js';
import { tokenSchema } from '../email-verification/verification.schema.js';

export const UNLOCK_TTL_SECONDS = 24 * 3600;
import type { MailService } from '../mail/mail.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import type { Lockout } from './lockout.js';
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
  /** Names of this deployment a password must not lean on (see `serviceNamesOf`). */
  passwordServiceNames?: readonly string[];
}

export type { AuthResult };

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
   */
  async login(input: unknown, meta: RequestMeta): Promise<AuthResult | MfaChallengeResult> {
    const { identifier, password } = parseInput(loginSchema, input);
    const user = await this.deps.repo.findByIdentifier(identifier.includes('@') ? normalizeEmail(identifier) : identifier);
    // Known accounts count failures per account (username and email share one count); unknown
    // identifiers per identifier: a lock then looks the same whether or not the account exists.
    const subject = user ? `user:${user.id}` : `identifier:${identifier.toLowerCase()}`;
    await this.deps.lockout.check(subject, user?.lockedUntil);
    const ok = user ? await this.deps.hasher.verify(password, user.passwordHash) : await this.deps.hasher.verifyDummy(password);
    if (!user || !ok) {
      const outcome = await this.deps.lockout.recordFailure(subject);
      if (outcome.lockedNow && user) await this.lock(user, outcome.until, meta);
      throw invalidCredentials();
    }
    await this.deps.lockout.clear(subject);
    // A correct password with MFA on earns a challenge, not tokens (and not a session).
    if (user.mfaEnabledAt) {
      await this.deps.signIn.upgradeHash(user, password);
      return this.deps.mfa.challenge(user);
    }
    return this.deps.signIn.finish(user, meta, { password });
  }

  /** The lock's durable half, its ACCOUNT_LOCKED event and the email with an unlock link, in one transaction. */
  private async lock(user: UserRecord, until: Date | null, meta: RequestMeta): Promise<void> {
    const lockedUntil = until ?? new Date(Date.now() + 100 * 365 * 86_400_000);
    await this.deps.repo.transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { lockedUntil } });
      await recordSecurityEvents(tx, [{ userId: user.id, type: 'ACCOUNT_LOCKED', ip: meta.ip, userAgent: meta.userAgent, data: { until: until?.toISOString() ?? null } }]);
      const token = await this.deps.tokens.issue(tx, user.id, 'ACCOUNT_UNLOCK', UNLOCK_TTL_SECONDS, { voidOlder: true });
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'account-locked',
        data: { username: user.username, until: lockedUntil.toISOString(), unlockLink: `${this.deps.publicUrl}/auth/unlock-account?token=${encodeURIComponent(token)}` },
        secret: ['unlockLink'],
      });
    });
    this.deps.mail.afterCommit();
  }

  /** The unlock link: consumes its token (one statement) and lifts the lock, in the database and in Redis. */
  async unlock(input: unknown): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    const userId = await this.deps.repo.transaction(async (tx) => {
      const owner = await this.deps.tokens.consume(tx, token, 'ACCOUNT_UNLOCK');
      if (!owner) throw new AppError('INVALID_TOKEN', 'This unlock link is invalid, used or expired');
      await tx.user.update({ where: { id: owner }, data: { lockedUntil: null } });
      return owner;
    });
    await this.deps.lockout.clear(`user:${userId}`);
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

  /** Needs the current password; the new hash, PASSWORD_CHANGED and the end of every other session commit together. */
  async changePassword(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { currentPassword, newPassword, code } = parseInput(changePasswordSchema, input);
    const user = await this.account(principal.userId);
    if (!(await this.deps.hasher.verify(currentPassword, user.passwordHash))) throw invalidCredentials();
    // Step-up: with MFA on, a stolen session plus a guessed password is not enough to take the account.
    await this.deps.mfa.stepUp(user, code);
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
