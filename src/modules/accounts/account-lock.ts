import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { RequestMeta } from '../../core/request.js';
import type { SecuritySignals } from '../alerts/security-signals.js';
import type { Tx } from '../../core/tx.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import type { UserRecord, UsersRepository } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { AccountFailures } from '../mfa/mfa.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import { accountSubject, lockSubjects, sourceOf, type FailureOutcome, type Lockout } from './lockout.js';
import type { SessionsService } from '../sessions/sessions.service.js';

export interface AccountLockDeps {
  users: UsersRepository;
  lockout: Lockout;
  tokens: OneTimeTokensRepository;
  /** Lock notices go through the email pipeline, in the transaction that records the lock. */
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  sessions: Pick<SessionsService, 'isKnownDevice'>;
  /** Base of the unlock link in the account-locked email (PUBLIC_URL). */
  publicUrl: string;
  /** Told of each new lock (latchkey_lockouts_total). */
  signals: Pick<SecuritySignals, 'lockedOut'>;
}

export const UNLOCK_TTL_SECONDS = 24 * 3600;
/** A lock only the unlock link or a reset lifts is stored as this far ahead. */
const FOREVER_MS = 100 * 365 * 86_400_000;

const invalidUnlockToken = () => new AppError('INVALID_TOKEN', 'This unlock link is invalid, used or expired');

/**
 * What a lock of an account does (the event, the email with an unlock link, the durable copy), the
 * unlock link itself, and the account's failure ceiling as the proofs other than a password use it.
 */
export class AccountLock {
  constructor(private readonly deps: AccountLockDeps) {}

  /**
   * ACCOUNT_LOCKED and the email with an unlock link, in one transaction; with `accountLock` (the
   * account-wide lock for unknown sources) also its durable copy, `lockedUntil`, which outlives Redis.
   */
  async lock(user: UserRecord, until: Date | null, meta: RequestMeta, accountLock?: FailureOutcome): Promise<void> {
    const shownUntil = until ?? new Date(Date.now() + FOREVER_MS);
    await this.deps.users.transaction(async (tx) => {
      if (accountLock) await this.deps.users.setLockedUntil(tx, user.id, accountLock.until ?? new Date(Date.now() + FOREVER_MS));
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: null, type: 'ACCOUNT_LOCKED', ip: meta.ip, userAgent: meta.userAgent, data: { until: until?.toISOString() ?? null } }]);
      // `scope`: the account-wide lock for unknown sources, or a lock of one identifier or known device.
      const details = { until: until?.toISOString() ?? null, scope: accountLock ? 'account' : 'identifier_or_device' };
      await recordAudit(tx, meta, [{ action: 'user.locked', outcome: 'SUCCESS', actorId: null, targetUserId: user.id, details }]);
      const token = await this.deps.tokens.issue(tx, user.id, 'ACCOUNT_UNLOCK', UNLOCK_TTL_SECONDS, { voidOlder: true });
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'account-locked',
        data: { username: user.username, until: shownUntil.toISOString(), unlockLink: `${this.deps.publicUrl}/auth/unlock-account?token=${encodeURIComponent(token)}` },
        secret: ['unlockLink'],
      });
    });
    this.deps.signals.lockedOut();
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
  async unlock(input: unknown, meta: RequestMeta | null = null): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    const user = await this.deps.users.transaction(async (tx) => {
      const owner = await this.deps.tokens.consume(tx, token, 'ACCOUNT_UNLOCK');
      if (!owner) throw invalidUnlockToken();
      // The link's holder acted: the owner, by the mailbox the link went to.
      await recordAudit(tx, meta, [{ action: 'user.unlocked', outcome: 'SUCCESS', actorId: owner, targetUserId: owner, details: { method: 'unlock_link' } }]);
      return this.deps.users.unlock(tx, owner);
    });
    await this.liftCounts(user);
  }

  /**
   * An operator's unlock: every lock of the account lifted as the link does (the durable one inside the
   * transaction, with whatever `inTransaction` writes there), the counts kept. False for no such account.
   */
  async unlockByOperator(userId: string, inTransaction: (tx: Tx) => Promise<void>): Promise<boolean> {
    const user = await this.deps.users.transaction(async (tx) => {
      const found = await this.deps.users.unlockIfExists(tx, userId);
      if (found) await inTransaction(tx);
      return found;
    });
    if (user) await this.liftCounts(user);
    return user !== null;
  }

  /** Lifts the locks Redis holds for the account and its identifiers (an erased account's too: its names become free). */
  async liftCounts(user: { id: string; username: string; email: string }): Promise<void> {
    const { account, identifiers } = lockSubjects(user);
    await Promise.all([account, ...identifiers].map((s) => this.deps.lockout.lift(s)));
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
      await this.deps.lockout.clearAll([subject, ...identifiers].map((s) => ({ subject: s })));
    },
  };

  private async failureScope(user: UserRecord, meta: RequestMeta) {
    const known = await this.deps.sessions.isKnownDevice(user.id, meta);
    return { subject: accountSubject(user.id), opts: known ? { source: sourceOf(meta) } : {} };
  }
}
