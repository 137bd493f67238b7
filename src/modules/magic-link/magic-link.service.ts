import { randomUUID } from 'node:crypto';
import type { RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import type { Sealer } from '../../infra/crypto/sealed.js';
import { AppError } from '../../infra/errors.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { JobMap } from '../../infra/queue.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthResult, SignIn } from '../accounts/sign-in.js';
import { recordAudit } from '../audit/audit.repository.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import { accountStanding, admitSignIn } from '../identity/account-standing.js';
import type { ProfileCache } from '../identity/profile-cache.js';
import type { UsersRepository } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { MfaChallengeResult, MfaService } from '../mfa/mfa.service.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { magicLinkRequestSchema } from './magic-link.schema.js';

export const MAGIC_LINK_TTL_SECONDS = 15 * 60;

export interface MagicLinkDeps {
  outbox: Pick<Outbox, 'add' | 'claim'>;
  users: Pick<UsersRepository, 'findByIdentifier' | 'findById' | 'markEmailVerified' | 'transaction'>;
  tokens: Pick<OneTimeTokensRepository, 'issue' | 'peek' | 'consume'>;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  /** Seals the submitted address in the outbox row and its job. */
  sealer: Sealer;
  signIn: Pick<SignIn, 'finish'>;
  mfa: Pick<MfaService, 'challenge'>;
  profiles: Pick<ProfileCache, 'invalidate'>;
  appUrl: string;
}

const invalidToken = () => new AppError('INVALID_TOKEN', 'This sign-in link is invalid, used or expired');

/** A queued request whose sealed address cannot be opened: retrying cannot help. */
export class UnreadableMagicLinkRequestError extends Error {
  override readonly name = 'UnreadableMagicLinkRequestError';
}

/** Binds a sealed address to its request (the outbox row id, which is also the job id). */
const requestContext = (requestId: string) => `magic-link:${requestId}`;

/**
 * Sign-in by a link sent to the account's address. Asking for one follows the password reset's steps (one
 * sealed outbox row whatever the address; a worker decides after the answer); using one is a sign-in like
 * any other (SignIn.finish, or an MFA challenge first) that also proves the mailbox, so it verifies it.
 */
export class MagicLinkService {
  constructor(private readonly deps: MagicLinkDeps) {}

  /**
   * The same answer, through the same steps, whether or not the address has an account: one outbox row
   * holding the address sealed (the per-address limit runs at the doors, known address or not). The worker
   * looks the address up and mails only an account that may sign in, so neither the answer nor its timing
   * tells which accounts exist.
   */
  async request(input: unknown, _meta: RequestMeta): Promise<void> {
    const { email } = parseInput(magicLinkRequestSchema, input);
    const id = randomUUID();
    await this.deps.outbox.add('magic-link', { sealedEmail: this.deps.sealer.seal(email, requestContext(id)) }, { id });
    this.deps.mail.afterCommit();
  }

  /**
   * Worker side of `request` (`requestId` is the job id): a new link (older ones void) and its email, or
   * nothing for an address without an account that may sign in. The outbox row is claimed (deleted) with
   * the change, so a request is handled once and its sealed address does not outlive it.
   */
  async handleRequest(requestId: string, job: JobMap['magic-link']): Promise<'sent' | 'unknown' | 'handled'> {
    let email: string;
    try {
      email = this.deps.sealer.open(String(job.sealedEmail), requestContext(requestId));
    } catch {
      throw new UnreadableMagicLinkRequestError(`magic-link request ${requestId} cannot be opened`);
    }
    const user = await this.deps.users.findByIdentifier(email);
    // A disabled account could not use the link: it gets none.
    if (!user || accountStanding(user) !== 'active') return (await this.deps.outbox.claim('magic-link', requestId)) ? 'unknown' : 'handled';
    const sent = await this.deps.users.transaction(async (tx) => {
      if (!(await this.deps.outbox.claim('magic-link', requestId, tx))) return false;
      const token = await this.deps.tokens.issue(tx, user.id, 'MAGIC_LINK', MAGIC_LINK_TTL_SECONDS, { voidOlder: true });
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'magic-link',
        data: { username: user.username, link: `${this.deps.appUrl}/magic-link?token=${encodeURIComponent(token)}`, expiresInMinutes: MAGIC_LINK_TTL_SECONDS / 60 },
        secret: ['link'],
      });
      return true;
    });
    if (!sent) return 'handled';
    this.deps.mail.afterCommit();
    return 'sent';
  }

  /**
   * Answers like a password login: a session (SignIn.finish: standing, SIGNED_IN, new-device notice), or an
   * MFA challenge when two-factor sign-in is on. The link is used (one statement: two uses cannot both win)
   * and the address marked verified (EMAIL_VERIFIED the first time) in one transaction, with the session
   * when there is one. A disabled account is refused before the link is used.
   */
  async signIn(input: unknown, meta: RequestMeta): Promise<AuthResult | MfaChallengeResult> {
    const { token } = parseInput(tokenSchema, input);
    const owner = await this.deps.tokens.peek(token, 'MAGIC_LINK');
    const found = owner ? await this.deps.users.findById(owner) : null;
    if (!found) throw invalidToken();
    admitSignIn(found);
    const now = new Date();
    const user = found.emailVerifiedAt ? found : { ...found, emailVerifiedAt: now };
    let verifiedNow = false;
    const redeem = async (tx: Tx) => {
      if ((await this.deps.tokens.consume(tx, token, 'MAGIC_LINK', now)) !== user.id) throw invalidToken();
      verifiedNow = await this.deps.users.markEmailVerified(tx, user.id, now);
      if (!verifiedNow) return;
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'EMAIL_VERIFIED', ip: meta.ip, userAgent: meta.userAgent }]);
      await recordAudit(tx, meta, [{ action: 'user.email_verified', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id, details: { method: 'magic_link' } }]);
    };
    if (user.mfaEnabledAt) {
      await this.deps.users.transaction(redeem);
      if (verifiedNow) await this.deps.profiles.invalidate(user.id);
      return this.deps.mfa.challenge(user);
    }
    const result = await this.deps.signIn.finish(user, meta, { inTransaction: redeem, method: 'magic_link' });
    if (verifiedNow) await this.deps.profiles.invalidate(user.id);
    return result;
  }
}
