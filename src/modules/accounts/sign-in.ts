import type { RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import type { MailService } from '../mail/mail.service.js';
import type { SignInMethod } from '../sessions/sessions.repository.js';
import type { IssuedTokens, SessionsService } from '../sessions/sessions.service.js';
import { admitSignIn } from '../identity/account-standing.js';
import type { PasswordHasher } from '../identity/password.js';
import type { UsersRepository, UserRecord } from '../identity/users.repository.js';

export interface AuthResult extends IssuedTokens {
  user: UserRecord;
}

/** The "this wasn't me" link of a new sign-in notice, bound to the session it would end. */
export interface DenialLinks {
  /** Issues the link's token inside the sign-in's transaction; returns the link. */
  link(tx: Tx, userId: string, sessionId: string): Promise<string>;
}

/**
 * The last step of every sign-in (password alone, or password then a second factor; any method to come):
 * the account's standing (accountStanding), then the session, SIGNED_IN and, for a device not seen lately,
 * the new sign-in notice (with its "this wasn't me" link, bound to the new session), in one transaction; and a hash upgrade when BCRYPT_COST changed.
 */
export class SignIn {
  constructor(
    private readonly deps: {
      users: UsersRepository;
      sessions: SessionsService;
      hasher: PasswordHasher;
      mail: Pick<MailService, 'queue' | 'afterCommit'>;
      denial: DenialLinks;
      sessionsUrl: string;
    },
  ) {}

  /**
   * The hash upgrade alone, for a correct password that earns an MFA challenge rather than a session:
   * without it an account with MFA on would keep a retired pepper or cost for ever.
   */
  async upgradeHash(user: UserRecord, password: string): Promise<void> {
    if (!this.deps.hasher.needsRehash(user.passwordHash)) return;
    const hash = await this.deps.hasher.hash(password);
    await this.deps.users.upgradePasswordHash(user.id, user.passwordHash, hash);
  }

  async finish(
    user: UserRecord,
    meta: RequestMeta,
    opts: {
      password?: string;
      inTransaction?: (tx: Tx) => Promise<void>;
      method?: SignInMethod;
      /** Whether this device and place held a session of the account lately, when the caller already asked. */
      knownDevice?: boolean;
    } = {},
  ): Promise<AuthResult> {
    // Asked of the account as the method found it, and again inside the transaction of the state as it is
    // then (SessionsService.open), so a disable that lands meanwhile still wins.
    admitSignIn(user);
    const rehash = opts.password && this.deps.hasher.needsRehash(user.passwordHash) ? await this.deps.hasher.hash(opts.password) : undefined;
    if (opts.knownDevice === true && !rehash && !opts.inTransaction) {
      // A known device with nothing else to write: the session statement is the whole change, and commits
      // on its own (no BEGIN and COMMIT round trips; it writes nothing for an account disabled meanwhile).
      const { issue } = await this.deps.sessions.openSession(undefined, user.id, meta, opts.method);
      return { ...(await issue()), user };
    }
    let queued = false;
    const issue = await this.deps.users.transaction(async (tx) => {
      await opts.inTransaction?.(tx);
      if (rehash) await this.deps.users.upgradePasswordHash(user.id, user.passwordHash, rehash, tx);
      // Only a new device or place is news: a session from the same client and address within the
      // last 30 days means the owner has seen this one before (and it spares mail on every sign-in).
      const known = opts.knownDevice ?? (await this.deps.sessions.isKnownDevice(user.id, meta, tx));
      const { sessionId, issue } = await this.deps.sessions.openSession(tx, user.id, meta, opts.method);
      if (known) return issue;
      queued = true;
      const denyLink = await this.deps.denial.link(tx, user.id, sessionId);
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'new-sign-in',
        data: { username: user.username, at: new Date().toISOString(), ip: meta.ip, userAgent: meta.userAgent, sessionsLink: this.deps.sessionsUrl, denyLink },
        secret: ['denyLink'],
      });
      return issue;
    });
    if (queued) this.deps.mail.afterCommit();
    return { ...(await issue()), user };
  }
}
