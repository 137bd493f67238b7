import type { RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import { recordAudit } from '../audit/audit.repository.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import type { UsersRepository } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { SessionsService } from '../sessions/sessions.service.js';

/** How long the "this wasn't me" link of a new sign-in notice works. */
export const DENIAL_TTL_SECONDS = 7 * 86_400;

export interface SignInDenialDeps {
  users: Pick<UsersRepository, 'findById' | 'transaction'>;
  tokens: Pick<OneTimeTokensRepository, 'issue' | 'consumeBound' | 'peekBound'>;
  sessions: Pick<SessionsService, 'endOne' | 'list'>;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  appUrl: string;
}

export interface SignInToDeny {
  signedInAt: Date;
  ip: string | null;
  userAgent: string | null;
  /** Whether that session still lives (false once it ended some other way). */
  active: boolean;
}

const invalidToken = () => new AppError('INVALID_TOKEN', 'This link is invalid, used or expired');

/**
 * "Was this you?": the new sign-in notice carries a link bound to the session it announces; posting its
 * token ends that session at once on every instance, records SIGN_IN_DENIED and tells the owner what to
 * do next. The token is the only credential (no session needed: the owner may have none at hand).
 */
export class SignInDenialService {
  constructor(private readonly deps: SignInDenialDeps) {}

  /** Inside the sign-in's transaction (SignIn.finish): a token bound to the new session, and its link. */
  async link(tx: Tx, userId: string, sessionId: string): Promise<string> {
    const token = await this.deps.tokens.issue(tx, userId, 'SIGN_IN_DENIAL', DENIAL_TTL_SECONDS, { sessionId });
    return `${this.deps.appUrl}/deny-sign-in?token=${encodeURIComponent(token)}`;
  }

  /**
   * What a link concerns, without using it (the page behind the link shows it before its button is
   * pressed): when the sign-in happened, and from where while its session still lives. INVALID_TOKEN
   * unless the link is usable. The token is the credential (256 bits; the general budget bounds tries).
   */
  async preview(input: unknown): Promise<SignInToDeny> {
    const { token } = parseInput(tokenSchema, input);
    const bound = await this.deps.tokens.peekBound(token, 'SIGN_IN_DENIAL');
    if (!bound?.sessionId) throw invalidToken();
    const live = (await this.deps.sessions.list(bound.userId)).find((s) => s.id === bound.sessionId);
    return { signedInAt: bound.createdAt, ip: live?.ip ?? null, userAgent: live?.userAgent ?? null, active: live !== undefined };
  }

  /**
   * One transaction: the token is used (one statement: two posts cannot both win), its session ends (the
   * Redis marker first, so no instance accepts its access tokens from then on; SESSION_REVOKED closes its
   * sockets everywhere), SIGN_IN_DENIED and the audit entry are recorded, and the next-steps email is
   * queued. A session that had already ended is still denied: the owner is told all the same.
   */
  async deny(input: unknown, meta: RequestMeta): Promise<void> {
    const { token } = parseInput(tokenSchema, input);
    await this.deps.users.transaction(async (tx) => {
      const bound = await this.deps.tokens.consumeBound(tx, token, 'SIGN_IN_DENIAL');
      if (!bound?.sessionId) throw invalidToken();
      const { userId, sessionId } = bound;
      const user = await this.deps.users.findById(userId);
      if (!user) throw invalidToken();
      const sessionEnded = await this.deps.sessions.endOne(userId, sessionId, 'sign_in_denied', meta, tx);
      await recordSecurityEvents(tx, [{ userId, actorId: userId, type: 'SIGN_IN_DENIED', sessionId, ip: meta.ip, userAgent: meta.userAgent, data: { sessionEnded } }]);
      await recordAudit(tx, meta, [{ action: 'user.sign_in_denied', outcome: 'SUCCESS', actorId: userId, targetUserId: userId, sessionId, details: { sessionEnded } }]);
      await this.deps.mail.queue(tx, {
        userId,
        to: user.email,
        template: 'sign-in-denied',
        data: {
          username: user.username,
          at: new Date().toISOString(),
          sessionEnded,
          // A request for a fresh reset link rather than a live one: this notice may be read days later,
          // and it needs no credential of its own.
          resetLink: `${this.deps.appUrl}/forgot-password`,
          sessionsLink: `${this.deps.appUrl}/sessions`,
        },
      });
    });
    this.deps.mail.afterCommit();
  }
}
