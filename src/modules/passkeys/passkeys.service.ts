import { createHmac } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Principal, RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { AppError, isAppError } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthResult, SignIn } from '../accounts/sign-in.js';
import type { SecuritySignals } from '../alerts/security-signals.js';
import type { JsonValue } from '../audit/audit-entry.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { recordAudit } from '../audit/audit.repository.js';
import { admitSignIn } from '../identity/account-standing.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { UserRecord, UsersRepository } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { AccountFailures, MfaService } from '../mfa/mfa.service.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import { PASSKEY_CHALLENGE_TTL_SECONDS, type PasskeyChallenges, type PendingCeremony } from './passkey-challenges.js';
import { registrationCodeLimit } from './passkeys.limits.js';
import { CredentialTaken, type PasskeyRecord, type PasskeysRepository } from './passkeys.repository.js';
import { deletePasskeySchema, finishLoginSchema, finishRegistrationSchema, startLoginSchema, startRegistrationSchema } from './passkeys.schema.js';

/** Passkeys one account may hold: each is a row and an entry of every allowCredentials list. */
export const MAX_PASSKEYS_PER_ACCOUNT = 20;
export const DEFAULT_PASSKEY_NAME = 'Passkey';

/** Matches no account: the passkey lookup still runs for an identifier that names none. */
const NO_USER = '00000000-0000-0000-0000-000000000000';

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface PasskeyChallengeResult<O> {
  challengeId: string;
  options: O;
}

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: readonly string[];
}

export interface PasskeysDeps {
  repo: PasskeysRepository;
  challenges: PasskeyChallenges;
  identity: Pick<IdentityService, 'account'>;
  users: Pick<UsersRepository, 'findByIdentifier' | 'findById'>;
  /** Adding a passkey needs a recent sign-in or reauthenticate. */
  sessions: Pick<SessionsService, 'requireRecentAuth'>;
  /** With MFA on, adding a passkey also needs a current code. */
  mfa: Pick<MfaService, 'stepUp'>;
  limits: Pick<Limits, 'consumeAll' | 'refund'>;
  /** The account's failure ceiling: a refused assertion counts like a wrong password, and a lock refuses a passkey too. */
  failures: AccountFailures;
  signIn: Pick<SignIn, 'finish'>;
  audit: Pick<AuditTrail, 'signInFailed' | 'record'>;
  signals: Pick<SecuritySignals, 'signInFailed'>;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  /** Derives the stand-in credential ids offered for an identifier with no passkey (`AppSecrets.ring('passkey-decoy')`). */
  decoyKey: Buffer;
  relyingParty: RelyingParty;
  appUrl: string;
  log: Pick<Logger, 'warn'>;
}

const invalidChallenge = () => new AppError('INVALID_TOKEN', 'This passkey challenge is invalid, used or expired; start again');
/** One answer for every refused assertion: unknown passkey, bad signature, wrong origin, no user verification, counter gone back. */
const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'This passkey was not accepted');
const refusedResponse = (why: string) => new AppError('BAD_USER_INPUT', 'The passkey was not accepted', { fields: { response: why } });

/** The WebAuthn user handle of an account: its id's 16 bytes (no name or address in it). */
const userHandleOf = (userId: string) => Buffer.from(userId.replace(/-/g, ''), 'hex');

/** Thrown inside the sign-in's transaction when a concurrent assertion moved the counter first. */
class CounterRace extends Error {}

const view = (p: PasskeyRecord): PasskeyView => ({ id: p.id, name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt });

/**
 * Passkeys (WebAuthn): registration on a signed-in, recently authenticated session (and a current code when
 * MFA is on), the owner's list and removals, and sign-in with or without an identifier. Verification is
 * @simplewebauthn/server's; this service holds the rules around it: challenges server side and single use,
 * user verification required, the counter only moving forward, and a sign-in that ends in SignIn.finish like
 * every other (standing, lockout, SIGNED_IN, new-device notice).
 */
export class PasskeysService {
  constructor(private readonly deps: PasskeysDeps) {}

  async list(principal: Principal): Promise<PasskeyView[]> {
    return (await this.deps.repo.listFor(principal.userId)).map(view);
  }

  /** Creation options for a new passkey of the caller, excluding the ones it holds; the challenge is bound to this session. */
  async startRegistration(principal: Principal, input: unknown, meta: RequestMeta): Promise<PasskeyChallengeResult<PublicKeyCredentialCreationOptionsJSON>> {
    const { code } = parseInput(startRegistrationSchema, input ?? {});
    await this.deps.sessions.requireRecentAuth(principal);
    const user = await this.deps.identity.account(principal.userId);
    if (user.mfaEnabledAt) await this.stepUp(user, code, principal, meta);
    const held = await this.deps.repo.listFor(user.id);
    if (held.length >= MAX_PASSKEYS_PER_ACCOUNT) throw tooMany();
    const { rpId, rpName } = this.deps.relyingParty;
    const options = await generateRegistrationOptions({
      rpName,
      rpID: rpId,
      userName: user.username,
      userDisplayName: user.username,
      userID: userHandleOf(user.id),
      attestationType: 'none',
      excludeCredentials: held.map((p) => ({ id: p.credentialId, transports: p.transports })),
      // Discoverable when the authenticator can (sign-in without a name); user verification always.
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    });
    const challengeId = await this.deps.challenges.open({ kind: 'registration', challenge: options.challenge, userId: user.id, sessionId: principal.sessionId });
    return { challengeId, options };
  }

  /**
   * Verifies the authenticator's answer to the caller's own challenge and stores the passkey; PASSKEY_ADDED,
   * its audit entry and the owner's email commit with it.
   */
  async finishRegistration(principal: Principal, input: unknown, meta: RequestMeta): Promise<PasskeyView> {
    const { challengeId, response, name } = parseInput(finishRegistrationSchema, input);
    await this.deps.sessions.requireRecentAuth(principal);
    const pending = await this.deps.challenges.take(challengeId);
    // Bound to the session that asked: a challenge leaked to another session (or account) is worth nothing.
    if (pending?.kind !== 'registration' || pending.userId !== principal.userId || pending.sessionId !== principal.sessionId) throw invalidChallenge();
    const user = await this.deps.identity.account(principal.userId);
    let info;
    try {
      const verified = await verifyRegistrationResponse({
        response: response as RegistrationResponseJSON,
        expectedChallenge: pending.challenge,
        expectedOrigin: [...this.deps.relyingParty.origins],
        expectedRPID: this.deps.relyingParty.rpId,
        requireUserVerification: true,
      });
      if (!verified.verified) throw new Error('not verified');
      info = verified.registrationInfo;
    } catch {
      throw refusedResponse('was not accepted (origin, relying party, challenge, user verification or attestation)');
    }
    const passkeyName = name ?? DEFAULT_PASSKEY_NAME;
    let added: PasskeyRecord | null;
    try {
      added = await this.deps.repo.transaction(async (tx) => {
        const row = await this.deps.repo.add(
          tx,
          {
            userId: user.id,
            credentialId: info.credential.id,
            publicKey: info.credential.publicKey,
            counter: info.credential.counter,
            transports: response.response.transports ?? [],
            name: passkeyName,
            deviceType: info.credentialDeviceType,
            backedUp: info.credentialBackedUp,
          },
          MAX_PASSKEYS_PER_ACCOUNT,
        );
        if (!row) return null;
        await this.changed(tx, user, principal, meta, { added: true, passkey: row });
        return row;
      });
    } catch (e) {
      if (e instanceof CredentialTaken) throw refusedResponse('this passkey is already registered');
      throw e;
    }
    if (!added) throw tooMany();
    this.deps.mail.afterCommit();
    return view(added);
  }

  /** Removes one of the caller's passkeys (PASSKEY_REMOVED, audit, email); false when it holds no such passkey. */
  async delete(principal: Principal, input: unknown, meta: RequestMeta): Promise<boolean> {
    const { id } = parseInput(deletePasskeySchema, input);
    const user = await this.deps.identity.account(principal.userId);
    const removed = await this.deps.repo.transaction(async (tx) => {
      const row = await this.deps.repo.remove(tx, user.id, id);
      if (row) await this.changed(tx, user, principal, meta, { added: false, passkey: { id, name: row.name } });
      return row !== null;
    });
    if (removed) this.deps.mail.afterCommit();
    return removed;
  }

  /**
   * Request options for a sign-in. Without an identifier, any discoverable passkey of this RP may answer.
   * With one, only that account's passkeys are offered; an identifier with none (unknown, or an account
   * without passkeys) is offered a stand-in credential id derived from it, the same on every call, so the
   * answer does not say by its emptiness which accounts exist or hold passkeys.
   */
  async startLogin(input: unknown, _meta: RequestMeta): Promise<PasskeyChallengeResult<PublicKeyCredentialRequestOptionsJSON>> {
    const { identifier } = parseInput(startLoginSchema, input ?? {});
    let ceremony: PendingCeremony = { kind: 'login', challenge: '', identified: false, userId: null };
    let allowCredentials: { id: string; transports?: string[] }[] | undefined;
    if (identifier) {
      const user = await this.deps.users.findByIdentifier(identifier);
      const held = await this.deps.repo.listFor(user?.id ?? NO_USER);
      allowCredentials = held.length > 0 ? held.map((p) => ({ id: p.credentialId, transports: p.transports })) : [{ id: this.decoyId(identifier), transports: ['internal', 'hybrid'] }];
      ceremony = { ...ceremony, identified: true, userId: user?.id ?? null };
    }
    const options = await generateAuthenticationOptions({
      rpID: this.deps.relyingParty.rpId,
      allowCredentials,
      userVerification: 'required',
      timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    });
    const challengeId = await this.deps.challenges.open({ ...ceremony, challenge: options.challenge });
    return { challengeId, options };
  }

  /**
   * A sign-in with a passkey: the challenge is used up whatever happens; the assertion is verified (user
   * verification required: it stands for a second factor, so no MFA challenge follows), then the account's
   * lockout and standing, then SignIn.finish with the counter's move in its transaction.
   */
  async finishLogin(input: unknown, meta: RequestMeta): Promise<AuthResult> {
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
      const verified = await verifyAuthenticationResponse({
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
    await this.deps.failures.clear(owner, meta);
    return result;
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

  /**
   * With MFA on, adding a passkey (a new way in that needs no code) also needs a current code: from the
   * per-account MFA budget, and a wrong one counts toward the lockout and is audited.
   */
  private async stepUp(user: UserRecord, code: string | null | undefined, principal: Principal, meta: RequestMeta): Promise<void> {
    if (!code) throw new AppError('BAD_USER_INPUT', 'Two-factor sign-in is on: send a current code', { fields: { code: 'is required when two-factor sign-in is on' } });
    await this.deps.failures.check(user, meta);
    await this.deps.limits.consumeAll(registrationCodeLimit(user.id));
    if (!(await this.deps.mfa.stepUp(user, code))) {
      const refused = { action: 'user.passkey_added', outcome: 'FAILURE', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId, details: { reason: 'invalid_code' } } as const;
      await Promise.all([this.deps.failures.record(user, meta), this.deps.audit.record(meta, [refused])]);
      throw new AppError('INVALID_TOKEN', 'The code is wrong, already used or expired');
    }
    await this.deps.limits.refund(registrationCodeLimit(user.id));
  }

  /** PASSKEY_ADDED or PASSKEY_REMOVED, its audit entry and the owner's email, in the change's transaction. */
  private async changed(tx: Tx, user: UserRecord, principal: Principal, meta: RequestMeta, change: { added: boolean; passkey: { id: string; name: string } }) {
    const { added, passkey } = change;
    const base = { userId: user.id, actorId: user.id, sessionId: principal.sessionId, ip: meta.ip, userAgent: meta.userAgent };
    await recordSecurityEvents(tx, [{ ...base, type: added ? 'PASSKEY_ADDED' : 'PASSKEY_REMOVED', data: { passkeyId: passkey.id } }]);
    await recordAudit(tx, meta, [
      { action: added ? 'user.passkey_added' : 'user.passkey_removed', outcome: 'SUCCESS', actorId: user.id, targetUserId: user.id, sessionId: principal.sessionId, details: { passkeyId: passkey.id } },
    ]);
    await this.deps.mail.queue(tx, {
      userId: user.id,
      to: user.email,
      template: 'passkey-changed',
      data: { username: user.username, added, name: passkey.name, at: new Date().toISOString(), ip: meta.ip, userAgent: meta.userAgent, resetLink: `${this.deps.appUrl}/forgot-password` },
    });
  }

  /** A stand-in credential id for an identifier with no passkey: stable, and not telling which identifiers exist. */
  private decoyId(identifier: string): string {
    return createHmac('sha256', this.deps.decoyKey).update(identifier).digest().subarray(0, 16).toString('base64url');
  }
}

const tooMany = () =>
  new AppError('BAD_USER_INPUT', `An account holds at most ${MAX_PASSKEYS_PER_ACCOUNT} passkeys: remove one first`, { fields: { passkeys: `at most ${MAX_PASSKEYS_PER_ACCOUNT}` } });
