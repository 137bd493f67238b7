import { createHash } from 'node:crypto';
import type { RequestMeta } from '../../http/request-meta.js';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { KeyRing } from '../../infra/crypto/secrets.js';
import { AppError } from '../../infra/errors.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { AccountsRepository, UserRecord } from '../accounts/accounts.repository.js';
import type { AuthResult, SignIn } from '../accounts/sign-in.js';
import type { MailService } from '../mail/mail.service.js';
import type { ProfileCache } from '../accounts/profile-cache.js';
import type { OneTimeTokensRepository } from '../one-time-tokens/one-time-tokens.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { Principal } from '../sessions/sessions.service.js';
import type { MfaRepository } from './mfa.repository.js';
import { codeSchema, completeMfaSchema } from './mfa.schema.js';
import { hashRecoveryCode, newRecoveryCode, type RecoveryCodeHash } from './recovery-codes.js';
import { newTotpSecret, otpauthUrl, qrSvg, verifyTotp } from './totp.js';

export const CHALLENGE_TTL_SECONDS = 5 * 60;
export const RECOVERY_CODE_COUNT = 10;

export interface MfaChallengeResult {
  mfaRequired: true;
  mfaToken: string;
  methods: ('TOTP' | 'RECOVERY_CODE')[];
}

export interface MfaDeps {
  repo: MfaRepository;
  accounts: AccountsRepository;
  tokens: OneTimeTokensRepository;
  sealer: Sealer;
  /** Keys for recovery-code hashes (`AppSecrets.ring('token-mac')`), so a database dump alone cannot test a guess. */
  codeKey: KeyRing;
  limits: Limits;
  signIn: SignIn;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  profiles: Pick<ProfileCache, 'invalidate'>;
  issuer: string;
  appUrl: string;
}

const invalidCode = () => new AppError('INVALID_TOKEN', 'The code is wrong, already used or expired');

/** TOTP with recovery codes (ASVS L2): enrollment, the login challenge, step-up, and disabling. */
export class MfaService {
  constructor(private readonly deps: MfaDeps) {}

  /** A fresh secret, pending until confirmed with a valid code; the secret is stored sealed (AES-256-GCM). */
  async startEnrollment(principal: Principal): Promise<{ secret: string; otpauthUrl: string; qrCodeSvg: string }> {
    const user = await this.user(principal.userId);
    if (user.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is already on; disable it first', { fields: { mfa: 'already enabled' } });
    const secret = newTotpSecret();
    await this.deps.repo.setPending(user.id, this.deps.sealer.seal(secret, `totp:${user.id}`));
    const url = otpauthUrl(secret, this.deps.issuer, user.email);
    return { secret, otpauthUrl: url, qrCodeSvg: await qrSvg(url) };
  }

  /** Turns MFA on with a valid code; returns the recovery codes, shown this once and stored only hashed. */
  async confirmEnrollment(principal: Principal, input: unknown, meta: RequestMeta): Promise<string[]> {
    const { code } = parseInput(codeSchema, input);
    const user = await this.user(principal.userId);
    const state = await this.deps.repo.state(user.id);
    if (!state?.totpSecretEnc || state.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Start an enrollment first', { fields: { code: 'no enrollment in progress' } });
    await this.deps.limits.consume('mfa', ['user', user.id]);
    const step = await verifyTotp(this.secretOf(user.id, state.totpSecretEnc), code, null);
    if (step === null) throw invalidCode();
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.enable(tx, user.id, step, codes.map((c) => this.hashCode(c)));
      await recordSecurityEvents(tx, [{ userId: user.id, type: 'MFA_ENABLED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
      await this.notify(tx, user, true, meta);
    });
    await this.deps.profiles.invalidate(user.id);
    this.deps.mail.afterCommit();
    return codes;
  }

  /** Needs a current code (TOTP or recovery): a stolen session alone cannot turn the second factor off. */
  async disable(principal: Principal, input: unknown, meta: RequestMeta): Promise<void> {
    const { code } = parseInput(codeSchema, input);
    const user = await this.user(principal.userId);
    if (!user.mfaEnabledAt) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is not on', { fields: { mfa: 'not enabled' } });
    await this.checkCode(user, code);
    await this.deps.repo.transaction(async (tx) => {
      await this.deps.repo.disable(tx, user.id);
      await recordSecurityEvents(tx, [{ userId: user.id, type: 'MFA_DISABLED', sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent }]);
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

  /** The second step of login: a code for a live challenge; the challenge is used up with the sign-in. */
  async completeLogin(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    const { mfaToken, code } = parseInput(completeMfaSchema, input);
    const userId = await this.deps.tokens.peek(mfaToken, 'MFA_CHALLENGE');
    if (!userId) throw new AppError('INVALID_TOKEN', 'This sign-in challenge is invalid, used or expired; sign in again');
    // Guesses are limited per challenge and per account, whatever the number of challenges opened.
    await this.deps.limits.consume('mfa', ['challenge', createHash('sha256').update(mfaToken).digest('hex')]);
    const user = await this.user(userId);
    await this.checkCode(user, code);
    return this.deps.signIn.finish(user, meta, {
      inTransaction: async (tx) => {
        if ((await this.deps.tokens.consume(tx, mfaToken, 'MFA_CHALLENGE')) !== user.id) throw new AppError('INVALID_TOKEN', 'This sign-in challenge was already used');
      },
    });
  }

  /** Step-up for sensitive changes (password change): a current code when MFA is on, nothing otherwise. */
  async stepUp(user: UserRecord, code: string | null | undefined): Promise<void> {
    if (!user.mfaEnabledAt) return;
    if (!code) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is on: send a current code', { fields: { code: 'is required' } });
    await this.checkCode(user, parseInput(codeSchema, { code }).code);
  }

  /** A TOTP code newer than the last one used, or an unused recovery code; limited per account. */
  private async checkCode(user: UserRecord, code: string): Promise<void> {
    await this.deps.limits.consume('mfa', ['user', user.id]);
    if (/^\d{6}$/.test(code)) {
      const state = await this.deps.repo.state(user.id);
      if (!state?.totpSecretEnc) throw invalidCode();
      const step = await verifyTotp(this.secretOf(user.id, state.totpSecretEnc), code, state.totpLastStep === null ? null : Number(state.totpLastStep));
      if (step === null || !(await this.deps.repo.claimStep(user.id, step))) throw invalidCode();
      return;
    }
    if (!(await this.deps.repo.useRecoveryCode(user.id, this.hashCode(code)))) throw invalidCode();
  }

  private secretOf(userId: string, sealed: Uint8Array): string {
    return this.deps.sealer.open(Buffer.from(sealed).toString('utf8'), `totp:${userId}`);
  }

  private hashCode(code: string): RecoveryCodeHash {
    return hashRecoveryCode(this.deps.codeKey, code);
  }

  private async user(id: string): Promise<UserRecord> {
    const user = await this.deps.accounts.findById(id);
    if (!user) throw new AppError('UNAUTHENTICATED', 'The account no longer exists');
    return user;
  }

  private notify(tx: Parameters<Parameters<MfaRepository['transaction']>[0]>[0], user: UserRecord, enabled: boolean, meta: RequestMeta) {
    return this.deps.mail.queue(tx, {
      userId: user.id,
      to: user.email,
      template: 'mfa-changed',
      data: { username: user.username, enabled, at: new Date().toISOString(), ip: meta.ip, userAgent: meta.userAgent, resetLink: `${this.deps.appUrl}/forgot-password` },
    });
  }
}
