import { createHmac } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { webauthn } from './webauthn.js';
import type { RequestMeta } from '../../core/request.js';
import { AppError, isAppError } from '../../infra/errors.js';
import { byAddress, type LimitDeclaration } from '../../infra/limit-spec.js';
import type { Logger } from '../../infra/logger.js';
import { RateLimitedError, type Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthResult, SignIn } from '../accounts/sign-in.js';
import type { SecuritySignals } from '../alerts/security-signals.js';
import type { JsonValue } from '../audit/audit-entry.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { admitSignIn } from '../identity/account-standing.js';
import type { UserRecord, UsersRepository } from '../identity/users.repository.js';
import type { AccountFailures } from '../mfa/mfa.service.js';
import { PASSKEY_CHALLENGE_TTL_SECONDS, type PasskeyChallenges, type PendingCeremony } from './passkey-challenges.js';
import type { PasskeyRecord, PasskeysRepository } from './passkeys.repository.js';
import { passkeyChallengeLimit, passkeyLoginLimit } from './passkeys.limits.js';
import { finishLoginSchema, startLoginSchema } from './passkeys.schema.js';

/** Matches no account: the passkey lookup still runs for an identifier that names none. */
const NO_USER = '00000000-0000-0000-0000-000000000000';

export interface PasskeyChallengeResult<O> {
  challengeId: string;
  options: O;
}

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: readonly string[];
}

export interface PasskeySignInDeps {
  repo: Pick<PasskeysRepository, 'listFor' | 'byCredentialId' | 'recordUse'>;
  challenges: PasskeyChallenges;
  users: Pick<UsersRepository, 'findByIdentifier' | 'findById'>;
  /** The account's failure ceiling: a refused assertion counts like a wrong password, and a lock refuses a passkey too. */
  failures: AccountFailures;
  signIn: Pick<SignIn, 'finish'>;
  audit: Pick<AuditTrail, 'signInFailed'>;
  /** RATE_LIMIT_PASSKEY_CHALLENGE and RATE_LIMIT_PASSKEY_LOGIN, counted here for both doors (the first refusal of a window is audited). */
  limits: Pick<Limits, 'consumeAll'>;
  signals: Pick<SecuritySignals, 'signInFailed'>;
  /** Derives the stand-in credential ids offered for an identifier with no passkey (`AppSecrets.ring('passkey-decoy')`). */
  decoyKey: Buffer;
  relyingParty: RelyingParty;
  log: Pick<Logger, 'warn'>;
}

export const invalidChallenge = () => new AppError('INVALID_TOKEN', 'This passkey challenge is invalid, used or expired; start again');
/** One answer for every refused assertion: unknown passkey, bad signature, wrong origin, no user verification, counter gone back. */
const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'This passkey was not accepted');

/** The WebAuthn user handle of an account: its id's 16 bytes (no name or address in it). */
export const userHandleOf = (userId: string) => Buffer.from(userId.replace(/-/g, ''), 'hex');

/** Thrown inside the sign-in's transaction when a concurrent assertion moved the counter first. */
class CounterRace extends Error {}

/**
 * Sign-in with a passkey, with or without an identifier. The assertion is verified by
 * @simplewebauthn/server; around it: the challenge used once, user verification required, the counter
 * only moving forward, and the end in SignIn.finish like every sign-in (lockout, standing, SIGNED_IN,
 * new-device notice).
 */
export class PasskeySignIn {
  constructor(private readonly deps: PasskeySignInDeps) {}

  /**
   * Request options for a sign-in. Without an identifier, any discoverable passkey of this RP may answer.
   * With one, only that account's passkeys are offered; an identifier with none (unknown, or an account
   * without passkeys) is offered a stand-in credential id derived from it, the same on every call, so the
   * answer does not say by its emptiness which accounts exist or hold passkeys.
   *
   * Counted by RATE_LIMIT_PASSKEY_CHALLENGE, not by the assertions' budget: a sign-in page asks for one on
   * each view that offers passkey autofill, and a challenge proves nothing. What it costs is bounded instead:
   * five minutes in Redis, single use, at most PASSKEY_LOGIN_CHALLENGES_PER_SOURCE per client network.
   */
  async start(input: unknown, meta: RequestMeta): Promise<PasskeyChallengeResult<PublicKeyCredentialRequestOptionsJSON>> {
    await this.limit(passkeyChallengeLimit, input, meta);
    const { identifier } = parseInput(startLoginSchema, input ?? {});
    let ceremony: PendingCeremony = { kind: 'login', challenge: '', identified: false, userId: null };
    let allowCredentials: { id: string; transports?: string[] }[] | undefined;
    if (identifier) {
      const user = await this.deps.users.findByIdentifier(identifier);
      const held = await this.deps.repo.listFor(user?.id ?? NO_USER);
      allowCredentials = held.length > 0 ? held.map((p) => ({ id: p.credentialId, transports: p.transports })) : [{ id: this.decoyId(identifier), transports: ['internal', 'hybrid'] }];
      ceremony = { ...ceremony, identified: true, userId: user?.id ?? null };
    }
    const options = await (await webauthn()).generateAuthenticationOptions({
      rpID: this.deps.relyingParty.rpId,
      allowCredentials,
      userVerification: 'required',
      timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    });
    const challengeId = await this.deps.challenges.openFor(meta.ip, { ...ceremony, challenge: options.challenge });
    return { challengeId, options };
  }

  /**
   * A sign-in with a passkey: the challenge is used up whatever happens; the assertion is verified (user
   * verification required: it stands for a second factor, so no MFA challenge follows), then the account's
   * lockout and standing, then SignIn.finish with the counter's move in its transaction.
   */
  async finish(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    await this.limit(passkeyLoginLimit, input, meta);
    const { challengeId, response } = parseInput(finishLoginSchema, input);
    const pending = await this.deps.challenges.take(challengeId);
    if (pending?.kind !== 'login') throw invalidChallenge();
    try {
      return await this.assertion(pending, response as AuthenticationResponseJSON, meta);
    } catch (e) {
      if (isAppError(e) && (e.code === 'INVALID_CREDENTIALS' || e.code === 'ACCOUNT_LOCKED' || e.code === 'ACCOUNT_DISABLED')) await this.deps.signals.signInFailed(null, meta);
      throw e;
    }
  }

  private async assertion(pending: Extract<PendingCeremony, { kind: 'login' }>, response: AuthenticationResponseJSON, meta: RequestMeta): Promise<AuthResult> {
    const passkey = await this.deps.repo.byCredentialId(response.id);
    const owner = passkey ? await this.deps.users.findById(passkey.userId) : null;
    if (!passkey || !owner || (pending.identified && pending.userId !== owner.id)) {
      await this.deps.audit.signInFailed(meta, { reason: 'invalid_credentials', userId: owner?.id ?? null, details: { method: 'passkey', passkey: passkey ? 'not_offered' : 'unknown' } });
      throw invalidCredentials();
    }
    let newCounter: number;
    try {
      const verified = await (await webauthn()).verifyAuthenticationResponse({
        response,
        expectedChallenge: pending.challenge,
        expectedOrigin: [...this.deps.relyingParty.origins],
        expectedRPID: this.deps.relyingParty.rpId,
        // Counter 0 here: the library would compare before checking the signature; the comparison is made
        // below, once the signature proves the assertion came from the authenticator, so only a real
        // regression (a cloned authenticator, a replay) is recorded as one.
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: 0, transports: passkey.transports as never },
        requireUserVerification: true,
      });
      if (!verified.verified) throw new Error('not verified');
      newCounter = verified.authenticationInfo.newCounter;
    } catch {
      return this.refuse(owner, meta, { passkeyId: passkey.id });
    }
    // The library does not compare the user handle with the credential's owner: a discoverable credential names its account.
    if (response.response.userHandle !== undefined && response.response.userHandle !== userHandleOf(owner.id).toString('base64url')) {
      return this.refuse(owner, meta, { passkeyId: passkey.id, userHandle: 'mismatch' });
    }
    const stored = Number(passkey.counter);
    if ((newCounter > 0 || stored > 0) && newCounter <= stored) return this.counterRegressed(owner, passkey, newCounter, meta);
    await this.admit(owner, meta);
    // The owner is in: the failure count starts again. Before SignIn.finish, whose new session makes this device
    // a known one: cleared after it, only the device's own count would go and the account's would stay.
    await this.deps.failures.clear(owner, meta);
    let result: AuthResult;
    try {
      result = await this.deps.signIn.finish(owner, meta, {
        method: 'passkey',
        inTransaction: async (tx) => {
          if (!(await this.deps.repo.recordUse(tx, passkey.id, newCounter, new Date()))) throw new CounterRace();
        },
      });
    } catch (e) {
      if (e instanceof CounterRace) return this.counterRegressed(owner, passkey, newCounter, meta);
      throw e;
    }
    return result;
  }

  /** Per source, before anything else; the first refusal of each window is audited, as for password sign-ins. */
  private async limit(declared: LimitDeclaration, input: unknown, meta: RequestMeta): Promise<void> {
    try {
      await this.deps.limits.consumeAll(declared(input, byAddress(meta.ip)), meta);
    } catch (e) {
      if (e instanceof RateLimitedError && e.firstInWindow) await this.deps.audit.signInFailed(meta, { reason: 'rate_limited', details: { method: 'passkey', limit: e.limit } });
      throw e;
    }
  }

  /** A verified assertion: the account's lock, then its standing, each refusal audited. */
  private async admit(owner: UserRecord, meta: RequestMeta): Promise<void> {
    try {
      await this.deps.failures.check(owner, meta);
      admitSignIn(owner);
    } catch (e) {
      const reason = isAppError(e) ? ({ ACCOUNT_LOCKED: 'locked', ACCOUNT_DISABLED: 'disabled' } as const)[e.code as 'ACCOUNT_LOCKED' | 'ACCOUNT_DISABLED'] : undefined;
      if (reason) await this.deps.audit.signInFailed(meta, { reason, userId: owner.id, details: { method: 'passkey' } });
      throw e;
    }
  }

  /** A refused assertion for a known passkey: a failure toward the account's lockout, audited, one answer. */
  private async refuse(owner: UserRecord, meta: RequestMeta, details: Record<string, JsonValue>): Promise<never> {
    await Promise.all([
      this.deps.failures.record(owner, meta),
      this.deps.audit.signInFailed(meta, { reason: 'invalid_credentials', userId: owner.id, details: { method: 'passkey', ...details } }),
    ]);
    throw invalidCredentials();
  }

  /** A signature counter at or behind the stored one: the authenticator may have been cloned. Refused and recorded. */
  private counterRegressed(owner: UserRecord, passkey: PasskeyRecord, received: number, meta: RequestMeta): Promise<never> {
    this.deps.log.warn({ userId: owner.id, passkeyId: passkey.id, stored: Number(passkey.counter), received }, 'passkey signature counter went backwards: sign-in refused');
    return this.refuse(owner, meta, { passkeyId: passkey.id, counter: 'regressed', storedCounter: Number(passkey.counter), receivedCounter: received });
  }

  /** A stand-in credential id for an identifier with no passkey: stable, and not telling which identifiers exist. */
  private decoyId(identifier: string): string {
    return createHmac('sha256', this.deps.decoyKey).update(identifier).digest().subarray(0, 16).toString('base64url');
  }
}
