import type { Principal, RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { KeyRing } from '../../infra/crypto/secrets.js';
import { AppError, isAppError } from '../../infra/errors.js';
import { RateLimitedError, type Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { SecuritySignals } from '../alerts/security-signals.js';
import type { AuthResult, SignIn } from '../accounts/sign-in.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { admitSignIn } from '../identity/account-standing.js';
import type { MailService } from '../mail/mail.service.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { ProfileCache } from '../identity/profile-cache.js';
import type { UserRecord, UsersRepository } from '../identity/users.repository.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import type { MfaRepository } from './mfa.repository.js';
import { accountCodeLimit, challengeLimit } from './mfa.limits.js';
import { codeField, codeSchema, completeMfaSchema, resetMfaSchema } from './mfa.schema.js';
import { hashRecoveryCode, newRecoveryCode, type RecoveryCodeHash } from './recovery-codes.js';
import { newTotpSecret, otpauthUrl, qrSvg, verifyTotp } from './totp.js';

export const CHALLENGE_TTL_SECONDS = 5 * 60;
/** Wrong codes that void a sign-in challenge (Better Auth's default too): the next try needs the password again. */
export const CHALLENGE_MAX_FAILURES = 5;
export const RECOVERY_CODE_COUNT = 10;

export interface MfaChallengeResult {
  mfaRequired: true;
  mfaToken: string;
  methods: ('TOTP' | 'RECOVERY_CODE')[];
}

/**
 * The account's failure ceiling (the lockout that counts wrong passwords), which wrong codes feed too:
 * guessing codes after a stolen password ends in the same lock as guessing passwords.
 */
export interface AccountFailures {
  /** ACCOUNT_LOCKED while the account is locked (for a request from where `meta` says). */
  check(user: UserRecord, meta: RequestMeta): Promise<void>;
  /** Counts one failure; crossing the threshold locks the account (its event and email included). */
  record(user: UserRecord, meta: RequestMeta): Promise<void>;
  /** After a complete sign-in: the count starts again. */
  clear(user: UserRecord, meta: RequestMeta): Promise<void>;
}

export interface MfaDeps {
  repo: MfaRepository;
  users: UsersRepository;
  identity: Pick<IdentityService, 'account'>;
  tokens: OneTimeTokensRepository;
  sealer: Sealer;
  /** Keys for recovery-code hashes (`AppSecrets.ring('token-mac')`), so a database dump alone cannot test a guess. */
  codeKey: KeyRing;
  limits: Pick<Limits, 'consumeAll' | 'refund'>;
  signIn: SignIn;
  /** Enrolling and disabling a second factor need a recent sign-in or reauthenticate. */
  sessions: Pick<SessionsService, 'requireRecentAuth'>;
  failures: AccountFailures;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  profiles: Pick<ProfileCache, 'invalidate'>;
  /** Refused codes at sign-in and refused disables are audited (the former as `user.sign_in_failed`). */
  audit: Pick<AuditTrail, 'signInFailed' | 'signInFailure' | 'record'>;
  issuer: string;
  appUrl: string;
  /** Told of each wrong code at sign-in (latchkey_login_failures_total). */
  signals: Pick<SecuritySignals, 'signInFailed'>;
}

const invalidCode = () => new AppError('INVALID_TOKEN', 'The code is wrong, already used or expired');

/** Refusals of the second step audited here (a wrong code is audited with its MFA_CHALLENGE_FAILED). */
const REFUSED = { ACCOUNT_LOCKED: 'locked', ACCOUNT_DISABLED: 'disabled' } as const;

/** A second factor is tied to a mailbox the owner controls: it is where MFA changes and warnings go. */
function requireVerifiedEmail(user: UserRecord): void {
  if (!user.emailVerifiedAt) throw new AppError('FORBIDDEN', 'Verify your email address before turning on two-factor sign-in');
}

/** TOTP with recovery codes (ASVS L2): enrollment, the login challenge, step-up, and disabling. */
export class MfaService {
  constructor(private readonly deps: MfaDeps) {}

  /** A fresh secret, pending until confirmed with a valid code; the secret is stored sealed (AES-256-GCM). */
  async startEnrollment(principal: Principal): Promise<{ secret: string; otpauthUrl: string; qrCodeSvg: string }> {
    await this.deps.sessions.requireRecentAuth(principal);
    const user = await this.user(principal.userId);
    requireVerifiedEmail(user);
    if (user.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is already on; disable it first', { fields: { mfa: 'already enabled' } });
    const secret = newTotpSecret();
    await this.deps.repo.setPending(user.id, this.deps.sealer.seal(secret, `totp:${user.id}`));
    const url = otpauthUrl(secret, this.deps.issuer, user.email);
    return { secret, otpauthUrl: url, qrCodeSvg: await qrSvg(url) };
  }

  /** Turns MFA on with a valid code; returns the recovery codes, shown this once and stored only hashed. */
  async confirmEnrollment(principal: Principal, input: unknown, meta: RequestMeta): Promise<string[]> {
    await this.deps.sessions.requireRecentAuth(principal);
    const { code } = parseInput(codeSchema, input);
    const user = await this.user(principal.userId);
    requireVerifiedEmail(user);
    const state = await this.deps.repo.state(user.id);
    if (!state?.totpSecretEnc || state.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Start an enrollment first', { fields: { code: 'no enrollment in progress' } });
    await this.deps.limits.consumeAll(accountCodeLimit(user.id));
    const step = await verifyTotp(this.secretOf(user.id, state.totpSecretEnc), code, null);
    if (step === null) throw invalidCode();
    await this.deps.limits.refund(accountCodeLimit(user.id));
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.enable(tx, user.id, step, codes.map((c) => this.hashCode(c)));
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'MFA_ENABLED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
      await recordAudit(tx, meta, [{ action: 'user.mfa_enabled', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId, details: { method: 'totp' } }]);
      await this.notify(tx, user, true, meta);
    });
    await this.deps.profiles.invalidate(user.id);
    this.deps.mail.afterCommit();
    return codes;
  }

  /**
   * Needs a recent sign-in and a current code (TOTP or recovery): a stolen session alone cannot turn the
   * second factor off. A wrong code counts toward the account's failure ceiling.
   */
  async disable(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    await this.deps.sessions.requireRecentAuth(principal);
    const { code } = parseInput(codeSchema, input);
    const user = await this.user(principal.userId);
    if (!user.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is not on', { fields: { mfa: 'not enabled' } });
    await this.deps.failures.check(user, meta);
    if (!(await this.checkCode(user, code))) {
      // A stolen session trying codes to switch the second factor off is what an operator wants to see.
      const refused = { action: 'user.mfa_disabled', outcome: 'FAILURE', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId, details: { reason: 'invalid_code' } } as const;
      await Promise.all([this.deps.failures.record(user, meta), this.deps.audit.record(meta, [refused])]);
      throw invalidCode();
    }
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.disable(tx, user.id);
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'MFA_DISABLED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
      await recordAudit(tx, meta, [{ action: 'user.mfa_disabled', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId }]);
      await this.notify(tx, user, false, meta);
    });
    await this.deps.profiles.invalidate(user.id);
    this.deps.mail.afterCommit();
  }

  /** After a correct password: a short-lived, single-use challenge bound to the user instead of tokens. */
  async challenge(user: UserRecord): Promise<MfaChallengeResult> {
    const mfaToken = await this.deps.tokens.issueAlone(user.id, 'MFA_CHALLENGE', CHALLENGE_TTL_SECONDS);
    return { mfaRequired: true, mfaToken, methods: ['TOTP', 'RECOVERY_CODE'] };
  }

  /**
   * The second step of login: a code for a live challenge; the challenge is used up with the sign-in.
   * Wrong codes count toward the account's failure ceiling (the lockout), are recorded as
   * MFA_CHALLENGE_FAILED, and the CHALLENGE_MAX_FAILURES-th voids the challenge and warns the owner by email.
   */
  async completeLogin(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    const { mfaToken, code } = parseInput(completeMfaSchema, input);
    const userId = await this.deps.tokens.peek(mfaToken, 'MFA_CHALLENGE');
    if (!userId) throw new AppError('INVALID_TOKEN', 'This sign-in challenge is invalid, used or expired; sign in again');
    let result: AuthResult;
    let user: UserRecord;
    try {
      // Guesses are limited per challenge and per account, whatever the number of challenges opened.
      await this.deps.limits.consumeAll(challengeLimit(mfaToken), meta);
      user = await this.user(userId);
      // The challenge proves the password: the standing may be told now, before a code is spent on a refused sign-in.
      admitSignIn(user);
      await this.deps.failures.check(user, meta);
      if (!(await this.checkCode(user, code))) {
        await this.deps.signals.signInFailed(null, meta);
        await this.challengeFailed(user, mfaToken, meta);
        throw invalidCode();
      }
      // Password and code both right: only now does the failure count start again (login leaves it for MFA
      // accounts). Before the sign-in, whose new session makes this device a known one: cleared after it,
      // only the device's own count would go, and the account's (kept for unknown devices) would stay.
      await this.deps.failures.clear(user, meta);
      result = await this.deps.signIn.finish(user, meta, {
        method: 'password_mfa',
        inTransaction: async (tx) => {
          if ((await this.deps.tokens.consume(tx, mfaToken, 'MFA_CHALLENGE')) !== user.id) throw new AppError('INVALID_TOKEN', 'This sign-in challenge was already used');
        },
      });
    } catch (e) {
      const reason = e instanceof RateLimitedError ? (e.firstInWindow ? 'rate_limited' : null) : isAppError(e) ? REFUSED[e.code as keyof typeof REFUSED] : null;
      if (reason) await this.deps.audit.signInFailed(meta, { reason, userId, details: { step: 'mfa' } });
      throw e;
    }
    return result;
  }

  /**
   * The second half of "the owner proves it is them" (reauthenticate, changePassword; the caller checks the
   * password and answers every failure alike): true without MFA, else whether `code` is a current TOTP or
   * an unused recovery code (used up if so). A missing or malformed code is simply false. It takes nothing
   * from the per-account MFA budget, whose exhaustion would otherwise tell a token thief the password was right.
   */
  async stepUp(user: UserRecord, code: string | null | undefined): Promise<boolean> {
    if (!user.mfaEnabledAt) return true;
    const parsed = codeField.safeParse(code ?? '');
    return parsed.success && (await this.codeMatches(user, parsed.data));
  }

  /**
   * The operator's way back in for an owner who lost the second factor and every recovery code, once the
   * operator has made sure out of band that the request is the owner's: MFA off (secret, pending enrollment
   * and recovery codes gone), MFA_DISABLED recorded with who did it, the owner told by email. A password
   * reset never does this. False when the account had nothing to reset. `actorId` is the operator's account
   * when there is one (the admin API); `inTransaction` writes with the reset (its audit entry).
   */
  async resetMfa(userId: string, actor: string, opts: { actorId?: string | null; inTransaction?: (tx: Tx) => Promise<void> } = {}): Promise<boolean> {
    const input = parseInput(resetMfaSchema, { userId, actor });
    const user = await this.deps.users.findById(input.userId);
    if (!user) throw new AppError('NOT_FOUND', 'No such account');
    const state = await this.deps.repo.state(user.id);
    if (!state?.mfaEnabledAt && !state?.totpSecretEnc) return false;
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.disable(tx, user.id);
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: opts.actorId ?? null, type: 'MFA_DISABLED', data: { by: 'operator', actor: input.actor } }]);
      await opts.inTransaction?.(tx);
      await this.notify(tx, user, false, { ip: null, userAgent: null });
    });
    await this.deps.profiles.invalidate(user.id);
    this.deps.mail.afterCommit();
    return true;
  }

  /** A code checked against the per-account MFA budget; a right code gives its attempt back. */
  private async checkCode(user: UserRecord, code: string): Promise<boolean> {
    await this.deps.limits.consumeAll(accountCodeLimit(user.id));
    const ok = await this.codeMatches(user, code);
    if (ok) await this.deps.limits.refund(accountCodeLimit(user.id));
    return ok;
  }

  /** A TOTP code newer than the last one used, or an unused recovery code (used up when it matches). */
  private async codeMatches(user: UserRecord, code: string): Promise<boolean> {
    if (/^\d{6}$/.test(code)) {
      const state = await this.deps.repo.state(user.id);
      if (!state?.totpSecretEnc) return false;
      const step = await verifyTotp(this.secretOf(user.id, state.totpSecretEnc), code, state.totpLastStep === null ? null : Number(state.totpLastStep));
      return step !== null && (await this.deps.repo.claimStep(user.id, step));
    }
    return this.deps.repo.useRecoveryCode(user.id, this.hashCode(code));
  }

  /**
   * "Password right, code wrong": the lockout counts it, the challenge counts it (and dies at the limit),
   * the event records it; the owner gets one email per voided challenge, not one per wrong code.
   */
  private async challengeFailed(user: UserRecord, mfaToken: string, meta: RequestMeta): Promise<void> {
    await this.deps.failures.record(user, meta);
    const voided = await this.deps.repo.transaction(async (tx) => {
      const count = await this.deps.tokens.recordFailure(tx, mfaToken, 'MFA_CHALLENGE', CHALLENGE_MAX_FAILURES);
      const data = { failures: count?.failures ?? null, voided: count?.voided ?? false };
      await recordSecurityEvents(tx, [{ userId: user.id, actorId: user.id, type: 'MFA_CHALLENGE_FAILED', ip: meta.ip, userAgent: meta.userAgent, data }]);
      await recordAudit(tx, meta, [this.deps.audit.signInFailure({ reason: 'mfa_failed', userId: user.id, details: { step: 'mfa', ...data } })]);
      if (!count?.voided) return false;
      await this.deps.mail.queue(tx, {
        userId: user.id,
        to: user.email,
        template: 'mfa-code-failed',
        data: { username: user.username, at: new Date().toISOString(), ip: meta.ip, resetLink: `${this.deps.appUrl}/forgot-password` },
      });
      return true;
    });
    if (voided) this.deps.mail.afterCommit();
  }

  private secretOf(userId: string, sealed: Uint8Array): string {
    return this.deps.sealer.open(Buffer.from(sealed).toString('utf8'), `totp:${userId}`);
  }

  private hashCode(code: string): RecoveryCodeHash {
    return hashRecoveryCode(this.deps.codeKey, code);
  }

  private user(id: string): Promise<UserRecord> {
    return this.deps.identity.account(id);
  }

  private notify(tx: Tx, user: UserRecord, enabled: boolean, meta: { ip: string | null; userAgent: string | null }) {
    return this.deps.mail.queue(tx, {
      userId: user.id,
      to: user.email,
      template: 'mfa-changed',
      data: { username: user.username, enabled, at: new Date().toISOString(), ip: meta.ip, userAgent: meta.userAgent, resetLink: `${this.deps.appUrl}/forgot-password` },
    });
  }
}
