import type { Principal, RequestMeta, Role } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { AppError, isAppError } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { PubSub } from '../../infra/pubsub.js';
import type { AccountLock } from '../accounts/account-lock.js';
import type { AccountsService } from '../accounts/accounts.service.js';
import { recordAudit, type NewAuditEntry } from '../audit/audit.repository.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import type { AdminRepository, LockedTarget } from './admin.repository.js';

export interface LifecycleDeps {
  repo: AdminRepository;
  /** Whatever changes an account's role or standing makes it visible to every session at once, after the commit. */
  identity: Pick<IdentityService, 'accountChanged'>;
  sessions: Pick<SessionsService, 'endEverySession' | 'requireRecentAuth'>;
  mfa: Pick<MfaService, 'resetMfa'>;
  lock: Pick<AccountLock, 'unlockByOperator' | 'liftCounts'>;
  /** The owner's proof behind `deleteOwnAccount` (the one `reauthenticate` asks). */
  owner: Pick<AccountsService, 'confirmOwner'>;
  /** Closes an erased account's sockets on every instance (its SESSION_REVOKED events go with it). */
  pubsub: Pick<PubSub, 'publish'>;
  log: Logger;
  /** ADMIN_EMAILS, lower case. */
  adminEmails: readonly string[];
  now?: () => Date;
}

/** Who made a change: an operator's account, the account itself, or null for the system (the command line, ADMIN_EMAILS). */
export type Actor = string | null;

/** Set on a change that did not come from an API call: it goes into the audit entry's details. */
export type Via = 'cli' | 'ADMIN_EMAILS';

const noSuchAccount = () => new AppError('BAD_USER_INPUT', 'No account has this id', { fields: { id: 'no such account' } });

/**
 * Every change to an account's existence, standing and role, with its rules (the last active ADMIN stays)
 * and its audit entry, written in the change's transaction. It decides nothing about who may ask: the
 * operator API (AdminService), the owner (`deleteOwnAccount`), the command line and the ADMIN_EMAILS
 * bootstrap call it after their own checks. One place, so later hooks (webhooks) see every change.
 */
export class AccountLifecycle {
  private readonly now: () => Date;

  constructor(private readonly deps: LifecycleDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * The account may no longer sign in or hold a session: the reason is kept, every session ends at once (on
   * every instance: their SESSION_REVOKED events close the sockets). False when it was disabled already.
   */
  async disable(userId: string, reason: string | null, actor: Actor, meta: RequestMeta): Promise<boolean> {
    const done = await this.deps.repo.transaction(async (tx) => {
      await this.keepLastAdmin(tx, userId, 'disabled');
      const user = await this.target(tx, userId);
      if (user.disabledAt) return false;
      await this.deps.repo.setDisabled(tx, userId, { at: this.now(), reason });
      const ended = await this.deps.sessions.endEverySession(userId, 'account_disabled', actor, meta, tx);
      await this.audit(tx, meta, { action: 'admin.user_disabled', actorId: actor, targetUserId: userId, details: { reason, sessionsEnded: ended.length } });
      return true;
    });
    await this.deps.identity.accountChanged(userId);
    return done;
  }

  /** The account may sign in again (its sessions stay ended). False when it was not disabled. */
  async enable(userId: string, actor: Actor, meta: RequestMeta): Promise<boolean> {
    const done = await this.deps.repo.transaction(async (tx) => {
      const user = await this.target(tx, userId);
      if (!user.disabledAt) return false;
      await this.deps.repo.setDisabled(tx, userId, null);
      await this.audit(tx, meta, { action: 'admin.user_enabled', actorId: actor, targetUserId: userId });
      return true;
    });
    await this.deps.identity.accountChanged(userId);
    return done;
  }

  /**
   * Erasure: the account and everything it owns (see AdminRepository.erase) in one transaction, with its
   * audit entry (`admin.user_deleted` by an operator, `user.deleted` by the owner), which keeps the id alone.
   * Its email and username are free from the commit. Its sessions end first, and their sockets close on every
   * instance.
   */
  async erase(userId: string, actor: Actor, meta: RequestMeta, action: 'admin.user_deleted' | 'user.deleted'): Promise<void> {
    const { user, ended } = await this.deps.repo.transaction(async (tx) => {
      await this.keepLastAdmin(tx, userId, 'deleted');
      const user = await this.target(tx, userId);
      const ended = await this.deps.sessions.endEverySession(userId, 'account_deleted', actor, meta, tx);
      await this.deps.repo.erase(tx, userId);
      await this.audit(tx, meta, { action, actorId: actor, targetUserId: userId, details: { sessionsEnded: ended.length } });
      return { user, ended };
    });
    await this.deps.identity.accountChanged(userId);
    await this.deps.lock.liftCounts(user);
    // The events that would announce these ends were erased with the account: announce them here. The sessions
    // are already refused everywhere (revoked in Redis before the commit); this only closes their sockets now.
    await Promise.all(ended.map((sessionId) => this.deps.pubsub.publish('sessionEnded', 'all', { sessionId, reason: 'SESSION_REVOKED' }))).catch((err: unknown) =>
      this.deps.log.warn({ err, userId }, 'erased account: announcing its ended sessions failed; its sockets close at their next check'),
    );
  }

  /**
   * The owner erases their own account: a recent sign-in (or reauthenticate), then the owner's proof (the
   * password, and a current code when MFA is on), as `reauthenticate` asks it.
   */
  async deleteOwnAccount(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    await this.deps.sessions.requireRecentAuth(principal);
    await this.deps.owner.confirmOwner(principal, input, meta, 'user.deleted');
    await this.erase(principal.userId, principal.userId, meta, 'user.deleted');
  }

  /** Ends every session of the account, by an operator; returns how many ended. */
  async revokeSessions(userId: string, actor: Actor, meta: RequestMeta): Promise<number> {
    return this.deps.repo.transaction(async (tx) => {
      await this.target(tx, userId);
      const ended = await this.deps.sessions.endEverySession(userId, 'revoked', actor, meta, tx);
      await this.audit(tx, meta, { action: 'admin.sessions_revoked', actorId: actor, targetUserId: userId, details: { sessionsEnded: ended.length } });
      return ended.length;
    });
  }

  /** Turns the account's second factor off (MfaService.resetMfa); false when it had none to reset. */
  async resetMfa(userId: string, actor: string, meta: RequestMeta): Promise<boolean> {
    const reset = this.deps.mfa.resetMfa(userId, actor, {
      actorId: actor,
      inTransaction: (tx) => this.audit(tx, meta, { action: 'admin.mfa_reset', actorId: actor, targetUserId: userId }),
    });
    return reset.catch((err: unknown) => {
      throw isAppError(err) && err.code === 'NOT_FOUND' ? noSuchAccount() : err;
    });
  }

  /** Lifts every lock of the account, as the unlock link does (the counts stay). */
  async unlock(userId: string, actor: string, meta: RequestMeta): Promise<void> {
    const found = await this.deps.lock.unlockByOperator(userId, (tx) =>
      this.audit(tx, meta, { action: 'admin.user_unlocked', actorId: actor, targetUserId: userId }),
    );
    if (!found) throw noSuchAccount();
  }

  /** Sets the account's role; the last active ADMIN cannot be demoted. False when it held that role already. */
  async setRole(userId: string, role: Role, actor: Actor, meta: RequestMeta | null, via?: Via): Promise<boolean> {
    const done = await this.deps.repo.transaction(async (tx) => {
      if (role !== 'ADMIN') await this.keepLastAdmin(tx, userId, 'demoted');
      const user = await this.target(tx, userId);
      if (user.role === role) return false;
      await this.deps.repo.setRole(tx, userId, role);
      await this.audit(tx, meta, { action: 'admin.role_changed', actorId: actor, targetUserId: userId, details: { from: user.role, to: role, ...(via ? { via } : {}) } });
      return true;
    });
    await this.deps.identity.accountChanged(userId);
    return done;
  }

  /**
   * The command line's grant (`npm run admin -- grant <email> <ROLE>`): `setRole` with no actor, by the
   * account's email (without regard to case). Null when no account has that email.
   */
  async grant(email: string, role: Role): Promise<{ id: string; from: Role; changed: boolean } | null> {
    const user = await this.deps.repo.findByEmail(email);
    if (!user) return null;
    return { id: user.id, from: user.role, changed: await this.setRole(user.id, role, null, null, 'cli') };
  }

  /**
   * ADMIN_EMAILS: every account whose verified address is listed holds ADMIN. Run at start for accounts
   * verified before (each promotion audited with no actor); `onVerified` does it as an address is verified.
   */
  async promoteListedAdmins(): Promise<number> {
    if (this.deps.adminEmails.length === 0) return 0;
    const promoted = await this.deps.repo.transaction(async (tx) => this.promote(tx, null));
    for (const id of promoted) await this.deps.identity.accountChanged(id);
    return promoted.length;
  }

  /** Inside the transaction that verifies `userId`'s address: ADMIN if that address is listed. */
  async onVerified(tx: Tx, userId: string, meta: RequestMeta): Promise<void> {
    await this.promote(tx, meta, userId);
  }

  private async promote(tx: Tx, meta: RequestMeta | null, userId?: string): Promise<string[]> {
    const promoted = await this.deps.repo.promoteListed(tx, this.deps.adminEmails, userId);
    for (const p of promoted) {
      await this.audit(tx, meta, { action: 'admin.role_changed', actorId: null, targetUserId: p.id, details: { from: p.from, to: 'ADMIN', via: 'ADMIN_EMAILS' } });
    }
    return promoted.map((p) => p.id);
  }

  /**
   * The last active ADMIN stays: a change that would leave none is FORBIDDEN. The active admins' rows are
   * locked first (see AdminRepository.lockActiveAdmins), so of two changes racing for the last two admins,
   * the second sees the first's outcome: exactly one succeeds.
   */
  private async keepLastAdmin(tx: Tx, userId: string, change: 'demoted' | 'disabled' | 'deleted'): Promise<void> {
    const admins = await this.deps.repo.lockActiveAdmins(tx);
    if (admins.length === 1 && admins[0] === userId) {
      throw new AppError('FORBIDDEN', `The last administrator cannot be ${change}: make another account ADMIN first`);
    }
  }

  private async target(tx: Tx, userId: string): Promise<LockedTarget> {
    const user = await this.deps.repo.lockTarget(tx, userId);
    if (!user) throw noSuchAccount();
    return user;
  }

  private audit(tx: Tx, meta: RequestMeta | null, entry: Omit<NewAuditEntry, 'outcome'>): Promise<void> {
    return recordAudit(tx, meta, [{ ...entry, outcome: 'SUCCESS' }]);
  }
}
