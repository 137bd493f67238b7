import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { webauthn } from './webauthn.js';
import type { Principal, RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { AppError } from '../../infra/errors.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthResult } from '../accounts/sign-in.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { IdentityService } from '../identity/identity.service.js';
import type { UserRecord } from '../identity/users.repository.js';
import type { MailService } from '../mail/mail.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import { PASSKEY_CHALLENGE_TTL_SECONDS } from './passkey-challenges.js';
import { invalidChallenge, PasskeySignIn, userHandleOf, type PasskeyChallengeResult, type PasskeySignInDeps } from './passkey-sign-in.js';
import { registrationCodeLimit } from './passkeys.limits.js';
import { CredentialTaken, type PasskeyRecord, type PasskeysRepository } from './passkeys.repository.js';
import { deletePasskeySchema, finishRegistrationSchema, startRegistrationSchema } from './passkeys.schema.js';

export type { PasskeyChallengeResult, RelyingParty } from './passkey-sign-in.js';

/** Passkeys one account may hold: each is a row and an entry of every allowCredentials list. */
export const MAX_PASSKEYS_PER_ACCOUNT = 20;
export const DEFAULT_PASSKEY_NAME = 'Passkey';

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface PasskeysDeps extends PasskeySignInDeps {
  repo: PasskeysRepository;
  identity: Pick<IdentityService, 'account'>;
  /** Adding a passkey needs a recent sign-in or reauthenticate. */
  sessions: Pick<SessionsService, 'requireRecentAuth'>;
  /** With MFA on, adding a passkey also needs a current code. */
  mfa: Pick<MfaService, 'stepUp'>;
  limits: Pick<Limits, 'consumeAll' | 'refund'>;
  audit: Pick<AuditTrail, 'signInFailed' | 'record'>;
  mail: Pick<MailService, 'queue' | 'afterCommit'>;
  appUrl: string;
}

const refusedResponse = (why: string) => new AppError('BAD_USER_INPUT', 'The passkey was not accepted', { fields: { response: why } });

const view = (p: PasskeyRecord): PasskeyView => ({ id: p.id, name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt });

/**
 * Passkeys (WebAuthn): registration on a signed-in, recently authenticated session (and a current code when
 * MFA is on), the owner's list and removals, and sign-in (passkey-sign-in.ts). Verification is
 * @simplewebauthn/server's; this service holds the rules around it: challenges server side, single use and
 * bound to the session that asked, user verification required.
 */
export class PasskeysService {
  private readonly signIn: PasskeySignIn;

  constructor(private readonly deps: PasskeysDeps) {
    this.signIn = new PasskeySignIn(deps);
  }

  /** Request options for a sign-in (see PasskeySignIn.start). */
  startLogin(input: unknown, meta: RequestMeta): Promise<PasskeyChallengeResult<PublicKeyCredentialRequestOptionsJSON>> {
    return this.signIn.start(input, meta);
  }

  /** A sign-in with a passkey (see PasskeySignIn.finish). */
  finishLogin(input: unknown, meta: RequestMeta): Promise<AuthResult> {
    return this.signIn.finish(input, meta);
  }

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
    const options = await (await webauthn()).generateRegistrationOptions({
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
      const verified = await (await webauthn()).verifyRegistrationResponse({
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
}

const tooMany = () =>
  new AppError('BAD_USER_INPUT', `An account holds at most ${MAX_PASSKEYS_PER_ACCOUNT} passkeys: remove one first`, { fields: { passkeys: `at most ${MAX_PASSKEYS_PER_ACCOUNT}` } });
