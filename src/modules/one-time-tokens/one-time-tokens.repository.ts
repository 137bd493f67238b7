import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, Prisma, sqlOf, statementPart, type OneTimeTokenPurpose, type PrismaClient } from '../../infra/db/index.js';
import { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN } from '../sessions/refresh-token.js';

interface IssueOptions {
  voidOlder?: boolean;
  now?: Date;
  sessionId?: string;
}

/**
 * A new token's row (the one place its shape is written), as a statement part: `issue` runs it alone, a
 * statement that writes more runs it with the rest (sign-up). Returns the token, to send; only its hash is stored.
 */
export function oneTimeTokenPart(
  userId: string,
  purpose: OneTimeTokenPurpose,
  ttlSeconds: number,
  opts: { now?: Date; sessionId?: string | undefined; name?: string } = {},
): { token: string; part: StatementPart } {
  const now = opts.now ?? new Date();
  const { token, hash } = newOpaqueToken();
  const row = [
    ['user_id', Prisma.sql`${userId}::uuid`],
    ['purpose', Prisma.sql`${purpose}::"OneTimeTokenPurpose"`],
    ['token_hash', Prisma.sql`${hash}::bytea`],
    ['created_at', Prisma.sql`${now}::timestamptz`],
    ['expires_at', Prisma.sql`${new Date(now.getTime() + ttlSeconds * 1000)}::timestamptz`],
    ['session_id', Prisma.sql`${opts.sessionId ?? null}::uuid`],
  ] as const;
  return { token, part: statementPart(opts.name ?? 'one_time_token', insertRows('one_time_tokens', [row])) };
}

/**
 * Verification, reset and unlock tokens: 256 random bits, stored only as SHA-256, single use, expiring.
 * Consumption is one conditional UPDATE, so two concurrent uses cannot both win.
 */
export class OneTimeTokensRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Issues a token inside the caller's transaction; with `voidOlder`, earlier unused ones of that purpose die.
   * `sessionId` binds it to the one session it acts on (see `consumeBound`).
   */
  issue(tx: Tx, userId: string, purpose: OneTimeTokenPurpose, ttlSeconds: number, opts: IssueOptions = {}): Promise<string> {
    return this.insert(clientOf(tx), userId, purpose, ttlSeconds, opts);
  }

  /** `issue` outside any transaction (a single insert needs none). */
  issueAlone(userId: string, purpose: OneTimeTokenPurpose, ttlSeconds: number): Promise<string> {
    return this.insert(this.prisma, userId, purpose, ttlSeconds);
  }

  private async insert(
    db: Prisma.TransactionClient,
    userId: string,
    purpose: OneTimeTokenPurpose,
    ttlSeconds: number,
    opts: IssueOptions = {},
  ): Promise<string> {
    const now = opts.now ?? new Date();
    if (opts.voidOlder) {
      await db.oneTimeToken.updateMany({ where: { userId, purpose, consumedAt: null }, data: { consumedAt: now } });
    }
    const { token, part } = oneTimeTokenPart(userId, purpose, ttlSeconds, { now, sessionId: opts.sessionId });
    await db.$executeRaw(sqlOf(part));
    return token;
  }

  /** The owner of a usable token, without using it (to validate what the caller sends with it first). */
  async peek(token: string, purpose: OneTimeTokenPurpose, now = new Date()): Promise<string | null> {
    if (!OPAQUE_TOKEN.test(token)) return null;
    const row = await this.prisma.oneTimeToken.findFirst({
      where: { tokenHash: hashOpaqueToken(token), purpose, consumedAt: null, expiresAt: { gt: now } },
      select: { userId: true },
    });
    return row?.userId ?? null;
  }

  /** Like `peek`, for a token bound to a session: its owner, session and issue time, without using it. */
  async peekBound(token: string, purpose: OneTimeTokenPurpose, now = new Date()): Promise<{ userId: string; sessionId: string | null; createdAt: Date } | null> {
    if (!OPAQUE_TOKEN.test(token)) return null;
    return this.prisma.oneTimeToken.findFirst({
      where: { tokenHash: hashOpaqueToken(token), purpose, consumedAt: null, expiresAt: { gt: now } },
      select: { userId: true, sessionId: true, createdAt: true },
    });
  }

  /** Uses a token: the owner's id when it was unused and unexpired, else null. */
  async consume(tx: Tx, token: string, purpose: OneTimeTokenPurpose, now = new Date()): Promise<string | null> {
    if (!OPAQUE_TOKEN.test(token)) return null;
    const rows = await clientOf(tx).oneTimeToken.updateManyAndReturn({
      where: { tokenHash: hashOpaqueToken(token), purpose, consumedAt: null, expiresAt: { gt: now } },
      data: { consumedAt: now },
      select: { userId: true },
    });
    return rows[0]?.userId ?? null;
  }

  /** `consume` for a token bound to a session: its owner and that session, or null when unusable. */
  async consumeBound(tx: Tx, token: string, purpose: OneTimeTokenPurpose, now = new Date()): Promise<{ userId: string; sessionId: string | null } | null> {
    if (!OPAQUE_TOKEN.test(token)) return null;
    const rows = await clientOf(tx).oneTimeToken.updateManyAndReturn({
      where: { tokenHash: hashOpaqueToken(token), purpose, consumedAt: null, expiresAt: { gt: now } },
      data: { consumedAt: now },
      select: { userId: true, sessionId: true },
    });
    return rows[0] ?? null;
  }

  /**
   * Counts a wrong answer given with a usable token (an MFA challenge's code); the `voidAfter`-th uses the
   * token up. One statement, so of racing failures exactly one is the voiding one. Null when the token was
   * no longer usable.
   */
  async recordFailure(
    tx: Tx,
    token: string,
    purpose: OneTimeTokenPurpose,
    voidAfter: number,
    now = new Date(),
  ): Promise<{ failures: number; voided: boolean } | null> {
    if (!OPAQUE_TOKEN.test(token)) return null;
    const rows = await clientOf(tx).$queryRaw<{ failures: number; voided: boolean }[]>`
      UPDATE one_time_tokens
      SET failed_attempts = failed_attempts + 1,
          consumed_at = CASE WHEN failed_attempts + 1 >= ${voidAfter} THEN ${now}::timestamptz ELSE consumed_at END
      WHERE token_hash = ${hashOpaqueToken(token)} AND purpose = ${purpose}::"OneTimeTokenPurpose"
        AND consumed_at IS NULL AND expires_at > ${now}::timestamptz
      RETURNING failed_attempts AS failures, consumed_at IS NOT NULL AS voided`;
    return rows[0] ?? null;
  }
}
