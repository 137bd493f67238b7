import { randomUUID } from 'node:crypto';
import type { Logger } from '../../infra/logger.js';
import { AppError } from '../../infra/errors.js';
import type { Authenticated, Principal, RequestMeta, TokenAuthenticated } from '../../core/request.js';
import type { StatementPart, Tx } from '../../core/tx.js';
import type { SecuritySignals } from '../alerts/security-signals.js';
import { accountStanding, admitSession, admitSignIn } from '../identity/account-standing.js';
import type { UserProfile } from '../identity/users.repository.js';
import { recordSecurityEvents } from '../security-events/security-events.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import { bearerToken, type AccessTokens } from './access-token.js';
import { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN } from './refresh-token.js';
import type { SessionCache } from './session-cache.js';
import { sessionEnds } from './session-liveness.js';
import { keepSuccessor, keptSuccessor, type ReuseGraceSettings } from './refresh-grace.js';
import { sessionOpeningParts, type LiveSession, type NewSession, type RotatedUser, type SessionsRepository, type SignInMethod } from './sessions.repository.js';

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  userId: string;
  sessionId: string;
}

/**
 * Where the session check reads the account's current state: identity's profile cache, whose key is read
 * in the same MGET as the session's, else PostgreSQL (IdentityService implements it).
 */
export interface AccountStates {
  /** The Redis key of the account's cached state. */
  cacheKey(userId: string): string;
  /** The account from that key's value (`cached`, null on a miss), else PostgreSQL; null when it no longer exists. */
  current(userId: string, cached: string | null): Promise<UserProfile | null>;
}

/** A session check: the session, and its account as the check read it (`me` answers with it, no other lookup). */
export interface SessionCheck extends Authenticated {
  readonly account: UserProfile;
}

export interface SessionsDeps {
  /** Its public methods (a structural type: the unit tests hand in an in-memory store). */
  repo: Pick<SessionsRepository, keyof SessionsRepository>;
  /** The account behind each session: its standing and role, read on every check. */
  accounts: AccountStates;
  cache: Pick<SessionCache, 'get' | 'markLive' | 'markRevoked'>;
  tokens: AccessTokens;
  log: Logger;
  refreshTtlSeconds: number;
  idleTtlSeconds: number;
  /** How long a sign-in or reauthenticate counts as recent (REAUTH_MAX_AGE_SECONDS). */
  reauthMaxAgeSeconds: number;
  /** Told of a replayed refresh token (latchkey_refresh_reuse_total). */
  signals: Pick<SecuritySignals, 'refreshTokenReused'>;
  /**
   * REFRESH_REUSE_GRACE_SECONDS (0: none) and the sealer that keeps each successor for that long, so a
   * retry after a lost response gets the same successor back.
   */
  reuseGrace?: ReuseGraceSettings;
  now?: () => Date;
}

/** A device seen lately: how long a session's address and client count as known. */
const KNOWN_DEVICE_MS = 30 * 86_400_000;

export type RevokeReason =
  | 'logout'
  | 'revoked'
  | 'password_changed'
  | 'password_reset'
  | 'refresh_token_reused'
  /** The owner answered "this wasn't me" to the new sign-in notice. */
  | 'sign_in_denied'
  /** The account may no longer hold a session (see `accountStanding`). */
  | 'account_disabled'
  | 'account_deleted';

/** Who ended a session: the account itself, another account (an operator), or null for the system. */
type Actor = string | null;

const unauthenticated = (msg: string) => new AppError('UNAUTHENTICATED', msg);

/** The audit action of each way a session ends (one entry per ended session, `details.reason` saying why). */
const AUDIT_OF = {
  SIGNED_OUT: 'user.signed_out',
  SESSION_REVOKED: 'session.revoked',
  REFRESH_TOKEN_REUSED: 'session.refresh_token_reused',
} as const;

/**
 * Sessions and their tokens (docs/api.md, "Access tokens"): issuing, refresh rotation with reuse detection, the
 * liveness check behind every authenticated call, and revocation that takes effect at once.
 */
export class SessionsService {
  private readonly now: () => Date;

  constructor(private readonly deps: SessionsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Opens a session inside the caller's transaction (a sign-in), recording SIGNED_IN and the
   * `user.signed_in` audit entry with it (one statement: see SessionsRepository.open). The account's standing, as that statement read and holds
   * it, must admit a sign-in (ACCOUNT_DISABLED otherwise, and the caller's transaction rolls back).
   * Returns a function that signs the access token once the transaction has committed.
   */
  async open(tx: Tx, userId: string, meta: RequestMeta, method: SignInMethod = 'password'): Promise<() => Promise<IssuedTokens>> {
    return (await this.openSession(tx, userId, meta, method)).issue;
  }

  /**
   * `open`, also naming the new session inside the transaction (for what must be bound to it there).
   * Without `tx` its one statement commits on its own (a sign-in that has nothing else to write).
   */
  async openSession(tx: Tx | undefined, userId: string, meta: RequestMeta, method: SignInMethod = 'password'): Promise<{ sessionId: string; issue: () => Promise<IssuedTokens> }> {
    const { session, token } = this.newSession(userId, meta, method);
    const opened = await this.deps.repo.open(tx, session);
    admitSignIn(opened?.account ?? null);
    // Admitted, so the statement wrote the session (it writes none only for a disabled account).
    return { sessionId: opened!.id!, issue: () => this.issue(userId, session.id, token) };
  }

  /**
   * The first session of an account created in the same statement (sign-up): its rows as parts of that
   * statement (see `sessionOpeningParts`; the account's part must be named `account`), and the function
   * that signs the access token once it has committed. A new account is active, so the session is written.
   */
  openingParts(userId: string, meta: RequestMeta, method: SignInMethod): { parts: StatementPart[]; sessionId: string; issue: () => Promise<IssuedTokens> } {
    const { session, token } = this.newSession(userId, meta, method);
    return { parts: sessionOpeningParts(session), sessionId: session.id, issue: () => this.issue(userId, session.id, token) };
  }

  /** A session's row values, computed here (id, refresh token and its hash, lifetimes). */
  private newSession(userId: string, meta: RequestMeta, method: SignInMethod): { session: NewSession; token: string } {
    const now = this.now();
    const { token, hash } = newOpaqueToken();
    const session: NewSession = {
      id: randomUUID(),
      userId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      ...sessionEnds(now, this.deps.refreshTtlSeconds, this.deps.idleTtlSeconds),
      refreshTokenHash: hash,
      authenticatedAt: now,
      signIn: { requestId: meta.requestId, method },
    };
    return { session, token };
  }

  /**
   * A known device: this address and client (IP + user agent) held a session of the account within 30
   * days. It spares the new sign-in notice, and the lockout counts its failures apart (a known source).
   */
  isKnownDevice(userId: string | null, meta: RequestMeta, tx?: Tx): Promise<boolean> {
    return this.deps.repo.hasRecentSession(userId, meta, this.knownDeviceSince(), tx);
  }

  /** Since when a session makes its address and client a known device (for a read that asks it along with another). */
  knownDeviceSince(): Date {
    return new Date(this.now().getTime() - KNOWN_DEVICE_MS);
  }

  /**
   * Single-use rotation: a new pair, or REFRESH_TOKEN_REUSED (and the whole session ends) for a used token.
   * Under a reuse grace, a token rotated within it whose successor is still unused answers with that same
   * successor (and a fresh access token): an idempotent retry, never a second live refresh token.
   */
  async refresh(refreshToken: string, meta: RequestMeta): Promise<IssuedTokens & { user: RotatedUser }> {
    if (!OPAQUE_TOKEN.test(refreshToken)) throw unauthenticated('The refresh token is invalid or expired');
    const next = newOpaqueToken();
    const oldHash = hashOpaqueToken(refreshToken);
    const result = await this.deps.repo.rotate(oldHash, next.hash, this.now(), this.deps.idleTtlSeconds * 1000, keepSuccessor(this.deps.reuseGrace, oldHash, next.token));
    if (result.kind === 'rotated' || result.kind === 'replayed') {
      // The rotation and the account's state come from one statement, so the standing is judged after the
      // rotation: an account that may no longer hold a session loses this one (the system ends it).
      const standing = accountStanding(result.user);
      if (standing !== 'active') await this.revoke(result.userId, [result.sessionId], `account_${standing}`, meta, 'SESSION_REVOKED', null);
      admitSession(result.user);
      const token = result.kind === 'rotated' ? next.token : this.openSuccessor(result.sealedSuccessor, oldHash, meta);
      return { ...(await this.issue(result.userId, result.sessionId, token)), user: result.user };
    }
    if (result.kind === 'reused') {
      await this.revoke(result.userId, [result.sessionId], 'refresh_token_reused', meta, 'REFRESH_TOKEN_REUSED', null);
      this.deps.signals.refreshTokenReused();
      this.deps.log.warn({ requestId: meta.requestId, userId: result.userId, sessionId: result.sessionId, ip: meta.ip }, 'refresh token reuse: session revoked');
      throw new AppError('REFRESH_TOKEN_REUSED', 'This refresh token was already used; the session has been revoked');
    }
    throw unauthenticated('The refresh token is invalid or expired');
  }

  /**
   * The check behind every authenticated call: a valid signature (cached per token), then the session's
   * liveness from Redis, falling back to PostgreSQL on a miss. Redis down: SERVICE_UNAVAILABLE, never a pass.
   */
  async authenticate(authorization: string | undefined): Promise<TokenAuthenticated & SessionCheck> {
    const claims = await this.deps.tokens.verify(bearerToken(authorization));
    return { ...(await this.checkSession(claims.sub, claims.sid)), accessTokenExpiresAt: claims.exp * 1000 };
  }

  /**
   * Liveness of a session, for each call and for long-lived sockets over time: the session (Redis, then
   * PostgreSQL), then its account's standing and role as they are now (the profile cache, read in the same
   * MGET, then PostgreSQL). A session of an account that may not act is refused like an ended one.
   */
  async checkSession(userId: string, sessionId: string): Promise<SessionCheck> {
    const { session: cached, sidecar } = await this.deps.cache.get(sessionId, this.deps.accounts.cacheKey(userId));
    if (cached?.state === 'revoked') throw unauthenticated('The session has ended');
    let liveUntil: number;
    if (cached?.state === 'live' && cached.userId === userId && cached.until > this.now().getTime()) {
      liveUntil = cached.until;
    } else {
      const live = await this.deps.repo.findLive(sessionId, this.now());
      if (!live || live.userId !== userId) throw unauthenticated('The session has ended');
      await this.deps.cache.markLive(sessionId, live.userId, live.liveUntil);
      liveUntil = live.liveUntil.getTime();
    }
    const account = await this.deps.accounts.current(userId, sidecar);
    admitSession(account);
    return { userId, sessionId, liveUntil, role: account.role, account };
  }

  /**
   * The guard of sensitive operations (second factors, account deletion, email change): the caller's
   * session must have been opened by a sign-in, or passed `reauthenticate`, within REAUTH_MAX_AGE_SECONDS.
   * Read from the session row (current state), never from the token: a refresh does not make it recent.
   */
  async requireRecentAuth(principal: Principal): Promise<void> {
    const now = this.now();
    const at = await this.deps.repo.authenticatedAt(principal.sessionId, principal.userId, now);
    if (!at) throw unauthenticated('The session has ended');
    if (now.getTime() - at.getTime() > this.deps.reauthMaxAgeSeconds * 1000) {
      throw new AppError('REAUTHENTICATION_REQUIRED', 'Confirm it is you: call reauthenticate with your password (and a code), then retry');
    }
  }

  /**
   * After the owner proved it is them again (see AccountsService.reauthenticate): the session is recent from
   * now, and `user.reauthenticated` records it in the same transaction.
   */
  async markReauthenticated(principal: Principal, meta: RequestMeta): Promise<void> {
    await this.deps.repo.transaction(async (tx) => {
      if (!(await this.deps.repo.markAuthenticated(principal.sessionId, principal.userId, this.now(), tx))) throw unauthenticated('The session has ended');
      const { userId, sessionId } = principal;
      await recordAudit(tx, meta, [{ action: 'user.reauthenticated', outcome: 'SUCCESS', actorId: userId, targetUserId: userId, sessionId }]);
    });
  }

  list(userId: string): Promise<LiveSession[]> {
    return this.deps.repo.listLive(userId, this.now());
  }

  /** Ends one of the caller's own sessions; false when there is no such live session of theirs. */
  async revokeOne(principal: Principal, sessionId: string, meta: RequestMeta): Promise<boolean> {
    const ids = await this.deps.repo.liveIds(principal.userId, this.now(), { only: sessionId });
    const ended = await this.revoke(principal.userId, ids, 'revoked', meta, 'SESSION_REVOKED', principal.userId);
    return ended.length > 0;
  }

  revokeOthers(principal: Principal, meta: RequestMeta): Promise<number> {
    return this.endAllBut(principal.userId, principal.sessionId, 'revoked', meta).then((ids) => ids.length);
  }

  /**
   * Who holds a refresh token: the session it belongs to, if live (logout by the session cookie, whose
   * holder could refresh into an access token of that session anyway); null otherwise. Never rotates.
   */
  async principalOfRefreshToken(refreshToken: string): Promise<Principal | null> {
    if (!OPAQUE_TOKEN.test(refreshToken)) return null;
    return this.deps.repo.sessionOfToken(hashOpaqueToken(refreshToken), this.now());
  }

  async logout(principal: Principal, allSessions: boolean, meta: RequestMeta): Promise<void> {
    const ids = allSessions ? await this.deps.repo.liveIds(principal.userId, this.now()) : [principal.sessionId];
    await this.revoke(principal.userId, ids, 'logout', meta, 'SIGNED_OUT', principal.userId);
  }

  /** For password change and reset (the owner acting): every other session ends, inside the caller's transaction. */
  async endAllBut(
    userId: string,
    keepSessionId: string | null,
    reason: RevokeReason,
    meta: RequestMeta,
    tx?: Tx,
  ): Promise<string[]> {
    const ids = await this.deps.repo.liveIds(userId, this.now(), keepSessionId ? { except: keepSessionId } : {});
    return this.revoke(userId, ids, reason, meta, 'SESSION_REVOKED', userId, tx);
  }

  /**
   * Ends one session of the account, if still live, for the owner acting from outside it (the "this wasn't
   * me" link), inside the caller's transaction. Its sockets close on every instance (SESSION_REVOKED).
   */
  async endOne(userId: string, sessionId: string, reason: RevokeReason, meta: RequestMeta, tx?: Tx): Promise<boolean> {
    const ids = await this.deps.repo.liveIds(userId, this.now(), { only: sessionId });
    return (await this.revoke(userId, ids, reason, meta, 'SESSION_REVOKED', userId, tx)).length > 0;
  }

  /**
   * Every session of the account ends at once, for a change after which it may not hold one (disabled,
   * deleted), or because an operator ends them (`revoked`); `actorId` is who made the change (null: the
   * system). Call it in the change's transaction and `IdentityService.accountChanged` after the commit. The
   * SESSION_REVOKED events are what closes the sessions' sockets on every instance: a delete, whose
   * transaction removes them with the account, announces the returned sessions itself after its commit.
   */
  async endEverySession(userId: string, reason: 'account_disabled' | 'account_deleted' | 'revoked', actorId: Actor, meta: RequestMeta, tx?: Tx): Promise<string[]> {
    const ids = await this.deps.repo.liveIds(userId, this.now());
    return this.revoke(userId, ids, reason, meta, 'SESSION_REVOKED', actorId, tx);
  }

  /**
   * Redis first, then PostgreSQL: the `revoked` marker lands before the row changes, so no instance can
   * accept the session's access tokens in between. If Redis is down nothing is written (SERVICE_UNAVAILABLE);
   * if PostgreSQL then fails, the session stays dead in the cache, which errs on the safe side.
   */
  private async revoke(
    userId: string,
    ids: readonly string[],
    reason: RevokeReason,
    meta: RequestMeta,
    eventType: 'SESSION_REVOKED' | 'SIGNED_OUT' | 'REFRESH_TOKEN_REUSED',
    actorId: Actor,
    tx?: Tx,
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    await this.deps.cache.markRevoked(ids);
    const write = async (t: Tx) => {
      const ended = await this.deps.repo.revoke(t, ids, reason, this.now());
      await recordSecurityEvents(
        t,
        ended.map((sessionId) => ({ userId, actorId, type: eventType, sessionId, ip: meta.ip, userAgent: meta.userAgent, data: { reason } })),
      );
      await recordAudit(
        t,
        meta,
        ended.map((sessionId) => ({ action: AUDIT_OF[eventType], outcome: 'SUCCESS', actorId, targetUserId: userId, sessionId, details: { reason } })),
      );
      return ended;
    };
    return tx ? write(tx) : this.deps.repo.transaction(write);
  }

  /**
   * The successor kept for a retry. One that does not open (moved to another row, or sealed under a key no
   * longer configured) is refused like an unknown token: nothing is handed out that was not sealed for it.
   */
  private openSuccessor(sealed: string, parentHash: Uint8Array, meta: RequestMeta): string {
    try {
      const token = keptSuccessor(this.deps.reuseGrace, parentHash, sealed);
      this.deps.log.info({ requestId: meta.requestId }, 'refresh retried within the reuse grace: same successor');
      return token;
    } catch (err) {
      this.deps.log.warn({ requestId: meta.requestId, err }, 'refresh retry: the kept successor does not open');
      throw unauthenticated('The refresh token is invalid or expired');
    }
  }

  private async issue(userId: string, sessionId: string, refreshToken: string): Promise<IssuedTokens> {
    const accessToken = await this.deps.tokens.sign(userId, sessionId);
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: this.deps.tokens.ttlSeconds, userId, sessionId };
  }
}
