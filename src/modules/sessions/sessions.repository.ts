import { randomUUID } from 'node:crypto';
import type { StatementPart, Tx } from '../../core/tx.js';
import type { Role } from '../../core/request.js';
import { clientOf, insertRows, prepared, Prisma, queryRows, statementPart, transaction, withParts, type PrismaClient } from '../../infra/db/index.js';
import { auditPart } from '../audit/audit.repository.js';
import { securityEventsPart } from '../security-events/security-events.repository.js';
import type { UserProfile } from '../identity/users.repository.js';
import { liveUntil, unrotatedKind } from './session-liveness.js';

export interface NewSession {
  /** Chosen in Node (randomUUID), so every row written with the session names it without reading it back. */
  id: string;
  userId: string;
  ip: string | null;
  userAgent: string | null;
  expiresAt: Date;
  idleExpiresAt: Date;
  refreshTokenHash: Uint8Array<ArrayBuffer>;
  /** The sign-in that opens it: the start of its "recent authentication". */
  authenticatedAt: Date;
  /** What its `user.signed_in` audit entry records beyond the session: the request and how the account proved itself. */
  signIn: { requestId: string | null; method: SignInMethod };
}

/** How a sign-in proved the account (`details.method` of `user.signed_in`). */
export type SignInMethod = 'password' | 'password_mfa' | 'sign_up' | 'magic_link' | 'passkey';

/** The account as the rotation returns it, so a refresh checks its standing and answers with it in the same round trip. */
export type RotatedUser = UserProfile;

/** The account's state as a new session found it, read and held in the statement that opens the session. */
export interface OpenedSession {
  /** Null when the account's state refused it (nothing was written). */
  id: string | null;
  account: { role: Role; disabledAt: Date | null };
}

export type RotateResult =
  | { kind: 'rotated'; userId: string; sessionId: string; liveUntil: Date; user: RotatedUser }
  /** A retry within the reuse grace: the token was rotated lately and its successor is still unused. */
  | { kind: 'replayed'; userId: string; sessionId: string; sealedSuccessor: string; user: RotatedUser }
  | { kind: 'reused'; userId: string; sessionId: string }
  | { kind: 'invalid' };

/** REFRESH_REUSE_GRACE_SECONDS > 0: the successor, sealed, kept with the rotated token for `seconds`. */
export interface ReuseGrace {
  seconds: number;
  sealedSuccessor: string;
}

type UserColumns = {
  username: string;
  email: string;
  email_verified_at: Date | null;
  mfa_enabled_at: Date | null;
  role: Role;
  disabled_at: Date | null;
  created_at: Date;
};

const userOf = (id: string, row: UserColumns): RotatedUser => ({
  id,
  username: row.username,
  email: row.email,
  emailVerifiedAt: row.email_verified_at,
  mfaEnabledAt: row.mfa_enabled_at,
  role: row.role,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
});

export interface LiveSession {
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
}

/** Matches no account: the known-source query still runs for an unknown identifier. */
const NO_USER = '00000000-0000-0000-0000-000000000000';

/**
 * The known-device rule, as an SQL condition: this address and client (IP + user agent) held a session of
 * the account `userId` (an SQL expression; null matches none, by the same query) since `since`.
 * `hasRecentSession` asks it alone; a password sign-in's one read asks it with the account
 * (`UsersRepository.findForSignIn`).
 */
export function recentSessionSql(userId: Prisma.Sql, source: { ip: string; userAgent: string | null }, since: Date): Prisma.Sql {
  return Prisma.sql`EXISTS (
    SELECT 1 FROM sessions s WHERE s.user_id = COALESCE(${userId}, ${NO_USER}::uuid) AND s.ip = ${source.ip}
      AND s.user_agent IS NOT DISTINCT FROM ${source.userAgent}::text AND s.created_at > ${since}::timestamptz)`;
}

/** `liveUntil` (session-liveness.ts) as a filter, for queries over many sessions. */
const liveWhere = (now: Date) => ({ revokedAt: null, expiresAt: { gt: now }, idleExpiresAt: { gt: now } });

/**
 * What opening a session writes, as parts of one statement (the one place these rows' shape is written):
 * the session (`session_row`), its first refresh token, SIGNED_IN and the `user.signed_in` audit entry
 * (the account acting). The statement must hold a part named `account` with the account's `disabled_at`
 * (`SessionsRepository.open` reads and holds the row; sign-up inserts it): for a disabled account
 * nothing is written, and the other rows are written only with the session.
 */
export function sessionOpeningParts(s: NewSession): StatementPart[] {
  const withSession = Prisma.sql`EXISTS (SELECT 1 FROM session_row)`;
  return [
    statementPart(
      'session_row',
      insertRows(
        'sessions',
        [
          [
            ['id', Prisma.sql`${s.id}::uuid`],
            ['user_id', Prisma.sql`${s.userId}::uuid`],
            ['ip', Prisma.sql`${s.ip}::text`],
            ['user_agent', Prisma.sql`${s.userAgent}::text`],
            ['expires_at', Prisma.sql`${s.expiresAt}::timestamptz`],
            ['idle_expires_at', Prisma.sql`${s.idleExpiresAt}::timestamptz`],
            ['authenticated_at', Prisma.sql`${s.authenticatedAt}::timestamptz`],
          ],
        ],
        { onlyIf: Prisma.sql`EXISTS (SELECT 1 FROM account WHERE account.disabled_at IS NULL)`, returning: Prisma.sql`id` },
      ),
    ),
    statementPart(
      'session_refresh_token',
      insertRows(
        'refresh_tokens',
        [
          [
            ['session_id', Prisma.sql`${s.id}::uuid`],
            ['token_hash', Prisma.sql`${s.refreshTokenHash}::bytea`],
            ['expires_at', Prisma.sql`${s.expiresAt}::timestamptz`],
          ],
        ],
        { onlyIf: withSession },
      ),
    ),
    securityEventsPart([{ userId: s.userId, actorId: s.userId, type: 'SIGNED_IN', sessionId: s.id, ip: s.ip, userAgent: s.userAgent }], {
      name: 'session_signed_in',
      onlyIf: withSession,
    }),
    auditPart(
      { ip: s.ip, userAgent: s.userAgent, requestId: s.signIn.requestId },
      [{ action: 'user.signed_in', outcome: 'SUCCESS', actorId: s.userId, targetUserId: s.userId, sessionId: s.id, details: { method: s.signIn.method } }],
      { name: 'session_audit', onlyIf: withSession },
    ),
  ];
}

/** The only file of the sessions feature that touches PostgreSQL. */
export class SessionsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * A session, its first refresh token, its SIGNED_IN event and its `user.signed_in` audit entry (the account
   * acting), in ONE statement (sign-in is bcrypt-bound: every other round trip taken from it is a login per
   * second more). It also returns the account's state as it stands now, and holds it (FOR SHARE) until the
   * statement's transaction ends: a concurrent disable either waits and then ends this session with the
   * others, or is seen here. A disabled account gets nothing written (`id` null, its state returned, so the
   * caller refuses the sign-in); null when the account is gone. Without `tx` the statement is its own
   * transaction (a sign-in with nothing else to commit: no BEGIN and COMMIT round trips).
   */
  async open(tx: Tx | undefined, s: NewSession): Promise<OpenedSession | null> {
    const account = statementPart('account', Prisma.sql`SELECT id, role, disabled_at FROM users WHERE id = ${s.userId}::uuid FOR SHARE`);
    const statement = prepared('latchkey_open_session', Prisma.sql`${withParts([account, ...sessionOpeningParts(s)])}
      SELECT session_row.id::text AS id, account.role::text AS role, account.disabled_at FROM account LEFT JOIN session_row ON true`);
    const rows = await queryRows<{ id: string | null; role: Role; disabled_at: Date | null }>(this.prisma, tx, statement);
    const row = rows[0];
    return row ? { id: row.id, account: { role: row.role, disabledAt: row.disabled_at } } : null;
  }

  /**
   * Rotates a refresh token in ONE statement (one implicit transaction, one round trip): the old token is
   * marked used only while unused and unexpired, its session must be live, and the new token is inserted.
   * Two racing calls serialise on the old token's row lock: the loser sees it used and matches nothing.
   * With a reuse grace the old row also keeps the successor, sealed; the old token's own parent drops its
   * sealed copy (this token, now used, can no longer be handed out again).
   */
  async rotate(oldHash: Uint8Array<ArrayBuffer>, newHash: Uint8Array<ArrayBuffer>, now: Date, idleTtlMs: number, grace?: ReuseGrace): Promise<RotateResult> {
    const newId = randomUUID();
    const idleUntil = new Date(now.getTime() + idleTtlMs);
    const rows = await queryRows<{ user_id: string; session_id: string; live_until: Date } & UserColumns>(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_rotate */
      WITH used AS (
        -- The session's liveness is part of the claim: a token of an ended session is not consumed.
        UPDATE refresh_tokens rt SET used_at = ${now}, replaced_by_id = ${newId}::uuid, successor_sealed = ${grace?.sealedSuccessor ?? null}::text
        FROM sessions s
        WHERE rt.token_hash = ${oldHash} AND rt.used_at IS NULL AND rt.expires_at > ${now}
          AND s.id = rt.session_id AND s.revoked_at IS NULL AND s.expires_at > ${now} AND s.idle_expires_at > ${now}
        RETURNING rt.id, rt.session_id
      ), spent AS (
        UPDATE refresh_tokens p SET successor_sealed = NULL
        FROM used
        WHERE p.replaced_by_id = used.id AND p.successor_sealed IS NOT NULL
      ), live AS (
        UPDATE sessions s SET last_used_at = ${now}, idle_expires_at = LEAST(${idleUntil}::timestamptz, s.expires_at)
        FROM used
        WHERE s.id = used.session_id AND s.revoked_at IS NULL AND s.expires_at > ${now} AND s.idle_expires_at > ${now}
        RETURNING s.id, s.user_id, s.expires_at, LEAST(${idleUntil}::timestamptz, s.expires_at) AS live_until
      ), fresh AS (
        INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at)
        SELECT ${newId}::uuid, live.id, ${newHash}, live.expires_at FROM live
        RETURNING session_id
      )
      SELECT live.user_id::text AS user_id, live.id::text AS session_id, live.live_until,
             u.username::text AS username, u.email::text AS email, u.email_verified_at, u.mfa_enabled_at,
             u.role::text AS role, u.disabled_at, u.created_at
      FROM live JOIN fresh ON fresh.session_id = live.id JOIN users u ON u.id = live.user_id`);
    const row = rows[0];
    if (row) return { kind: 'rotated', userId: row.user_id, sessionId: row.session_id, liveUntil: row.live_until, user: userOf(row.user_id, row) };
    if (grace) return this.unrotatedWithinGrace(oldHash, now, grace.seconds);

    // Nothing rotated: a used token on a live session is reuse; anything else is not a valid token.
    const prior = await this.prisma.refreshToken.findUnique({
      where: { tokenHash: oldHash },
      select: { usedAt: true, session: { select: { id: true, userId: true, revokedAt: true, expiresAt: true, idleExpiresAt: true } } },
    });
    if (prior && unrotatedKind(prior, now) === 'reused') return { kind: 'reused', userId: prior.session.userId, sessionId: prior.session.id };
    return { kind: 'invalid' };
  }

  /**
   * Why a token did not rotate, under a reuse grace: rotated within the last `graceSeconds` while its
   * successor is still unused and unexpired (and the session live) is a retry, answered with that
   * successor; otherwise as without a grace. Read after the rotation statement, so a racing rotation of
   * this token has committed (the row lock made this caller wait for it).
   */
  private async unrotatedWithinGrace(oldHash: Uint8Array<ArrayBuffer>, now: Date, graceSeconds: number): Promise<RotateResult> {
    const rows = await queryRows<
      {
        used_at: Date | null;
        successor_sealed: string | null;
        successor_used_at: Date | null;
        successor_expires_at: Date | null;
        session_id: string;
        user_id: string;
        revoked_at: Date | null;
        expires_at: Date;
        idle_expires_at: Date;
      } & UserColumns
    >(this.prisma, undefined, Prisma.sql`/* prepared:latchkey_rotate_grace */
      SELECT p.used_at, p.successor_sealed, n.used_at AS successor_used_at, n.expires_at AS successor_expires_at,
             s.id::text AS session_id, s.user_id::text AS user_id, s.revoked_at, s.expires_at, s.idle_expires_at,
             u.username::text AS username, u.email::text AS email, u.email_verified_at, u.mfa_enabled_at,
             u.role::text AS role, u.disabled_at, u.created_at
      FROM refresh_tokens p
      JOIN sessions s ON s.id = p.session_id
      JOIN users u ON u.id = s.user_id
      LEFT JOIN refresh_tokens n ON n.id = p.replaced_by_id
      WHERE p.token_hash = ${oldHash}`);
    const prior = rows[0];
    if (!prior) return { kind: 'invalid' };
    const session = { revokedAt: prior.revoked_at, expiresAt: prior.expires_at, idleExpiresAt: prior.idle_expires_at };
    const withinGrace = prior.used_at !== null && now.getTime() - prior.used_at.getTime() <= graceSeconds * 1000;
    const successorUnused = prior.successor_used_at === null && prior.successor_expires_at !== null && prior.successor_expires_at > now;
    if (withinGrace && successorUnused && prior.successor_sealed && liveUntil(session, now)) {
      return { kind: 'replayed', userId: prior.user_id, sessionId: prior.session_id, sealedSuccessor: prior.successor_sealed, user: userOf(prior.user_id, prior) };
    }
    if (unrotatedKind({ usedAt: prior.used_at, session }, now) === 'reused') return { kind: 'reused', userId: prior.user_id, sessionId: prior.session_id };
    return { kind: 'invalid' };
  }

  /**
   * Whether this address and client (IP + user agent) held a session of the account since `since`: a
   * known source. A null user runs the same query, so an unknown identifier costs the same.
   */
  async hasRecentSession(userId: string | null, source: { ip: string; userAgent: string | null }, since: Date, tx?: Tx): Promise<boolean> {
    const [row] = await queryRows<{ known: boolean }>(this.prisma, tx, Prisma.sql`SELECT ${recentSessionSql(Prisma.sql`${userId}::uuid`, source, since)} AS known`);
    return row?.known === true;
  }

  /** The live session a refresh token (used or not) belongs to; null when unknown, expired or its session ended. */
  async sessionOfToken(tokenHash: Uint8Array<ArrayBuffer>, now: Date): Promise<{ userId: string; sessionId: string } | null> {
    const t = await this.prisma.refreshToken.findUnique({
      where: { tokenHash },
      select: { expiresAt: true, session: { select: { id: true, userId: true, revokedAt: true, expiresAt: true, idleExpiresAt: true } } },
    });
    return t && t.expiresAt > now && liveUntil(t.session, now) ? { userId: t.session.userId, sessionId: t.session.id } : null;
  }

  async findLive(sessionId: string, now: Date): Promise<{ userId: string; liveUntil: Date } | null> {
    const s = await this.prisma.session.findFirst({
      where: { id: sessionId },
      select: { userId: true, revokedAt: true, expiresAt: true, idleExpiresAt: true },
    });
    const until = s && liveUntil(s, now);
    return until ? { userId: s.userId, liveUntil: until } : null;
  }

  /** When the holder of a live session last proved it is the owner; null when no such live session. */
  async authenticatedAt(sessionId: string, userId: string, now: Date): Promise<Date | null> {
    const s = await this.prisma.session.findFirst({ where: { id: sessionId, userId, ...liveWhere(now) }, select: { authenticatedAt: true } });
    return s?.authenticatedAt ?? null;
  }

  /** Records a fresh proof of the owner on a live session; false when there is no such live session. */
  async markAuthenticated(sessionId: string, userId: string, now: Date, tx?: Tx): Promise<boolean> {
    const res = await (tx ? clientOf(tx) : this.prisma).session.updateMany({ where: { id: sessionId, userId, ...liveWhere(now) }, data: { authenticatedAt: now } });
    return res.count === 1;
  }

  listLive(userId: string, now: Date): Promise<LiveSession[]> {
    return this.prisma.session.findMany({
      where: { userId, ...liveWhere(now) },
      orderBy: [{ lastUsedAt: 'desc' }, { id: 'asc' }],
      select: { id: true, userId: true, createdAt: true, lastUsedAt: true, expiresAt: true, ip: true, userAgent: true },
    });
  }

  /** Ids of the user's live sessions, optionally only one (ownership check) or all but one. */
  async liveIds(userId: string, now: Date, filter: { only?: string; except?: string } = {}): Promise<string[]> {
    const rows = await this.prisma.session.findMany({
      where: {
        userId,
        ...liveWhere(now),
        ...(filter.only ? { id: filter.only } : {}),
        ...(filter.except ? { id: { not: filter.except } } : {}),
      },
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  /** Ends sessions inside the caller's transaction; returns those that were still live. */
  async revoke(tx: Tx, ids: readonly string[], reason: string, now: Date): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await clientOf(tx).session.updateManyAndReturn({
      where: { id: { in: [...ids] }, revokedAt: null },
      data: { revokedAt: now, revokeReason: reason },
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
