import { randomUUID } from 'node:crypto';
import type { Sealer } from '../../infra/crypto/sealed.js';
import { AppError } from '../../infra/errors.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { JobMap } from '../../infra/queue.js';
import { parseInput } from '../../infra/validation.js';
import type { RequestMeta } from '../../core/request.js';
import { lockSubjects, type Lockout } from '../accounts/lockout.js';
import type { PasswordHasher } from '../identity/password.js';
import { checkPasswordPolicy } from '../identity/password-policy.js';
import type { UsersRepository } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import { resetConfirmSchema, resetRequestSchema } from './password-reset.schema.js';

export const RESET_TTL_SECONDS = 30 * 60;

export interface PasswordResetDeps {
  outbox: Pick<Outbox, 'add' | 'claim'>;
  users: UsersRepository;
  tokens: OneTimeTokensRepository;
  sessions: SessionsService;
  hasher: PasswordHasher;
  mail: MailService;
  /** Seals the submitted address in the outbox row and its job. */
  sealer: Sealer;
  lockout: Pick<Lockout, 'clear' | 'reset'>;
  passwordMinLength: number;
  /** Names of this deployment a password must not lean on (see `serviceNamesOf`). */
  passwordServiceNames?: readonly string[];
  appUrl: string;
  /** An unknown address is audited by its keyed hash only. */
  audit: Pick<AuditTrail, 'identifierHash'>;
}

const invalidToken = () => new AppError('INVALID_TOKEN', 'This reset link is invalid, used or expired');

/** A queued request whose sealed address cannot be opened: retrying cannot help. */
export class UnreadableRequestError extends Error {
  override readonly name = 'UnreadableRequestError';
}

/** Binds a sealed address to its request (the outbox row id, which is also the job id). */
const requestContext = (requestId: string) => `password-reset:${requestId}`;
/** Binds the sealed origin of a request (address, client, request id: for its audit entry) to it. */
const originContext = (requestId: string) => `password-reset-origin:${requestId}`;

/** Password reset by email (docs/api.md, "Operations"; the Copenhagen Book's password-reset page). */
export class PasswordResetService {
  constructor(private readonly deps: PasswordResetDeps) {}

  /**
   * The same answer, through the same steps, whether or not the address has an account: one outbox row
   * (the per-email limit runs at the doors, known address or not). The worker looks the address up and mails only a known one, so neither the
   * answer nor its timing tells which accounts exist.
   */
  async request(input: unknown, meta: RequestMeta): Promise<void> {
    const { email } = parseInput(resetRequestSchema, input);
    // The address is personal and, with the job's outcome, would tell which accounts exist: sealed. So is
    // where the request came from, which its audit entry (written by the worker) records.
    const id = randomUUID();
    const origin = JSON.stringify({ ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId });
    await this.deps.outbox.add('password-reset', { sealedEmail: this.deps.sealer.seal(email, requestContext(id)), sealedOrigin: this.deps.sealer.seal(origin, originContext(id)) }, { id });
    this.deps.mail.afterCommit();
  }

  /**
   * Worker side of `request` (`requestId` is the job id): a new token (older ones void) and its email,
   * or nothing for an unknown address. The request's outbox row is claimed (deleted) with the change, so
   * a request handled once is never handled again, and its sealed address does not outlive it. Its audit
   * entry is written here, with the claim: the answer to the requester cannot depend on it.
   */
  async handleRequest(requestId: string, job: JobMap['password-reset']): Promise<'sent' | 'unknown' | 'handled'> {
    let email: string;
    try {
      email = this.deps.sealer.open(String(job.sealedEmail), requestContext(requestId));
    } catch {
      throw new UnreadableRequestError(`password-reset request ${requestId} cannot be opened`);
    }
    const meta = this.originOf(requestId, job);
    const user = await this.deps.users.findByIdentifier(email);
    if (!user) {
      const claimed = await this.deps.users.transaction(async (tx) => {
        if (!(await this.deps.outbox.claim('password-reset', requestId, tx))) return false;
        const details = { reason: 'unknown_address', identifierHash: this.deps.audit.identifierHash(email) };
        await recordAudit(tx, meta, [{ action: 'user.password_reset_requested', outcome: 'FAILURE', actorId: null, targetUserId: null, details }]);
        return true;
      });
      return claimed ? 'unknown' : 'handled';
    }
    const sent = await this.deps.users.transaction(async (tx) => {
      if (!(await this.deps.outbox.claim('password-reset', requestId, tx))) return false;
      await recordAudit(tx, meta, [{ action: 'user.password_reset_requested', outcome: 'SUCCESS', actorId: null, targetUserId: user.id }]);
      const token = await this.deps.tokens.issue(tx, user.id, 'PASSWORD_RESET', RESET_TTL_SECONDS, { voidOlder: true });
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'reset-password',
        data: { username: user.username, link: `${this.deps.appUrl}/reset-password?token=${encodeURIComponent(token)}`, expiresInMinutes: RESET_TTL_SECONDS / 60 },
        secret: ['link'],
      });
      return true;
    });
    if (!sent) return 'handled';
    this.deps.mail.afterCommit();
    return 'sent';
  }

  /** Where the request came from (null for a job queued before origins were sealed with it). */
  private originOf(requestId: string, job: JobMap['password-reset']): RequestMeta | null {
    if (typeof job.sealedOrigin !== 'string') return null;
    try {
      const o = JSON.parse(this.deps.sealer.open(job.sealedOrigin, originContext(requestId))) as Partial<RequestMeta>;
      return { ip: String(o.ip ?? ''), userAgent: typeof o.userAgent === 'string' ? o.userAgent : null, requestId: String(o.requestId ?? '') };
    } catch {
      return null;
    }
  }

  /**
   * The new password is checked before the token is used, so a weak one leaves the link usable. Then, in
   * one transaction: the token is consumed (one statement: two uses cannot both win), the password set,
   * every session ended, PASSWORD_RESET recorded, and the "password changed" email queued.
   */
  async confirm(input: unknown, meta: RequestMeta): Promise<void> {
    const { token, newPassword } = parseInput(resetConfirmSchema, input);
    const owner = await this.deps.tokens.peek(token, 'PASSWORD_RESET');
    if (!owner) throw invalidToken();
    const user = await this.deps.users.findById(owner);
    if (!user) throw invalidToken();
    checkPasswordPolicy(newPassword, {
      minLength: this.deps.passwordMinLength,
      context: [user.username, user.email],
      serviceNames: this.deps.passwordServiceNames,
      field: 'newPassword',
    });
    const passwordHash = await this.deps.hasher.hash(newPassword);
    const now = new Date();
    await this.deps.users.transaction(async (tx) => {
      if ((await this.deps.tokens.consume(tx, token, 'PASSWORD_RESET', now)) !== user.id) throw invalidToken();
      // A reset also lifts a lockout: the owner just proved control of the mailbox.
      await this.deps.users.resetPassword(tx, user.id, passwordHash, now);
      await this.deps.sessions.endAllBut(user.id, null, 'password_reset', meta, tx);
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'PASSWORD_RESET', ip: meta.ip, userAgent: meta.userAgent }]);
      await recordAudit(tx, meta, [{ action: 'user.password_reset', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id }]);
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'password-changed',
        data: { username: user.username, changedAt: now.toISOString(), ip: meta.ip, userAgent: meta.userAgent, resetLink: `${this.deps.appUrl}/forgot-password` },
      });
    });
    // Every count of failures starts over: they were guesses at a password that no longer exists.
    const { account, identifiers } = lockSubjects(user);
    await Promise.all([this.deps.lockout.reset(account), ...identifiers.map((s) => this.deps.lockout.clear(s))]);
    this.deps.mail.afterCommit();
  }
}
