import { AppError } from '../../infra/errors.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { Principal, RequestMeta } from '../../core/request.js';
import type { StatementPart, Tx } from '../../core/tx.js';
import type { MailService, MailToQueue } from '../mail/mail.service.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { ProfileCache } from '../identity/profile-cache.js';
import type { UserRecord, UsersRepository } from '../identity/users.repository.js';
import { oneTimeTokenPart, type OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import { resendLimit } from './verification.limits.js';
import { tokenSchema } from './verification.schema.js';

export const VERIFICATION_TTL_SECONDS = 24 * 3600;

export interface VerificationDeps {
  users: UsersRepository;
  identity: Pick<IdentityService, 'account'>;
  tokens: OneTimeTokensRepository;
  mail: MailService;
  profiles: Pick<ProfileCache, 'invalidate'>;
  /** Resends per account. */
  limits: Pick<Limits, 'consumeAll'>;
  publicUrl: string;
  /**
   * What else a newly verified address settles, inside the verifying transaction (the admin bootstrap:
   * an account whose address is in ADMIN_EMAILS holds ADMIN from now).
   */
  onVerified?: (tx: Tx, userId: string, meta: RequestMeta) => Promise<void>;
}

const invalidToken = () => new AppError('INVALID_TOKEN', 'This verification link is invalid, used or expired');

/** Email verification: a link sent at sign-up (or on request) that activates the address once. */
export class EmailVerificationService {
  constructor(private readonly deps: VerificationDeps) {}

  /**
   * Inside the sign-up transaction: the token and its email commit with the user. A new account has no
   * older link to void; a resend (`voidOlder`) kills the earlier ones.
   */
  async issue(tx: Tx, user: Pick<UserRecord, 'id' | 'username' | 'email'>, opts: { voidOlder?: boolean } = {}): Promise<void> {
    const token = await this.deps.tokens.issue(tx, user.id, 'EMAIL_VERIFICATION', VERIFICATION_TTL_SECONDS, { voidOlder: opts.voidOlder ?? false });
    await this.deps.mail.queue(tx, this.email(user, token));
  }

  /**
   * `issue` for a new account, as parts of the statement that creates it (sign-up): the token's row and
   * its email (see `MailService.queueParts`). A new account has no older link to void.
   */
  issueParts(user: Pick<UserRecord, 'id' | 'username' | 'email'>): StatementPart[] {
    const { token, part } = oneTimeTokenPart(user.id, 'EMAIL_VERIFICATION', VERIFICATION_TTL_SECONDS);
    return [part, ...this.deps.mail.queueParts(this.email(user, token))];
  }

  /** The verification email of `token`: its link is a secret (sealed in the email's row). */
  private email(user: Pick<UserRecord, 'id' | 'username' | 'email'>, token: string): MailToQueue<'verify-email'> {
    const link = `${this.deps.publicUrl}/auth/verify-email?token=${encodeURIComponent(token)}`;
    return {
      userId: user.id,
      to: user.email,
      template: 'verify-email',
      data: { username: user.username, link, expiresInHours: VERIFICATION_TTL_SECONDS / 3600 },
      secret: ['link'],
    };
  }

  afterCommit(): void {
    this.deps.mail.afterCommit();
  }

  /** What the link will do, without doing it (a GET: mail scanners follow links): INVALID_TOKEN unless usable. */
  async check(input: unknown): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    if (!(await this.deps.tokens.peek(token, 'EMAIL_VERIFICATION'))) throw invalidToken();
  }

  /** Consumes the token in one statement (two clicks cannot both win) and marks the address verified. */
  async verify(input: unknown, meta: RequestMeta): Promise<UserRecord> {
    const { token } = parseInput(tokenSchema, input);
    const userId = await this.deps.users.transaction(async (tx) => {
      const owner = await this.deps.tokens.consume(tx, token, 'EMAIL_VERIFICATION');
      if (!owner) throw invalidToken();
      if (await this.deps.users.markEmailVerified(tx, owner, new Date())) {
        await recordSecurityEvents(tx, [{ userId: owner, actorId: owner, type: 'EMAIL_VERIFIED', ip: meta.ip, userAgent: meta.userAgent }]);
        await recordAudit(tx, meta, [{ action: 'user.email_verified', outcome: 'SUCCESS', actorId: owner, targetUserId: owner }]);
        await this.deps.onVerified?.(tx, owner, meta);
      }
      return owner;
    });
    await this.deps.profiles.invalidate(userId);
    const user = await this.deps.users.findById(userId);
    if (!user) throw invalidToken();
    return user;
  }

  /** A fresh link (older ones die); false when the address is already verified, and nothing is sent. */
  async resend(principal: Principal): Promise<boolean> {
    await this.deps.limits.consumeAll(resendLimit(principal.userId));
    const user = await this.deps.identity.account(principal.userId);
    if (user.emailVerifiedAt) return false;
    await this.deps.users.transaction((tx) => this.issue(tx, user, { voidOlder: true }));
    this.afterCommit();
    return true;
  }
}
