import type { Role } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { clientOf, Prisma, transaction, type PrismaClient } from '../../infra/db/index.js';

/** An account as operators see it: its profile, standing and lock, when it last signed in and its live sessions. */
export interface AdminUserRecord {
  id: string;
  username: string;
  email: string;
  emailVerifiedAt: Date | null;
  mfaEnabledAt: Date | null;
  createdAt: Date;
  role: Role;
  disabledAt: Date | null;
  disabledReason: string | null;
  /** The account-wide lock for unknown sources (its durable copy), while it lasts. */
  lockedUntil: Date | null;
  lastSignInAt: Date | null;
  activeSessions: number;
}

/** What a lifecycle change reads of its target, holding the row until the change commits. */
export interface LockedTarget {
  id: string;
  username: string;
  email: string;
  role: Role;
  disabledAt: Date | null;
}

export interface UserQuery {
  /** Lower case, a prefix of the username or of the email. */
  prefix?: string;
  role?: Role;
  disabled?: boolean;
}

/** A position in the list (newest accounts first). */
export interface UserCursor {
  createdAt: Date;
  id: string;
}

interface Row {
  id: string;
  username: string;
  email: string;
  email_verified_at: Date | null;
  mfa_enabled_at: Date | null;
  created_at: Date;
  role: Role;
  disabled_at: Date | null;
  disabled_reason: string | null;
  locked_until: Date | null;
  last_sign_in_at: Date | null;
  active_sessions: number;
}

/** A LIKE pattern matching what starts with `prefix`, its wildcards taken literally. */
const startsWith = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The filter of the user list. The prefix search runs on `lower(username)` and `lower(email)`, each with a
 * `text_pattern_ops` index (see the migration), so it is an index range scan whatever the collation.
 */
function whereOf(q: UserQuery): Prisma.Sql {
  const parts: Prisma.Sql[] = [Prisma.sql`TRUE`];
  if (q.prefix !== undefined) {
    const pattern = startsWith(q.prefix);
    parts.push(Prisma.sql`(lower(u.username::text) LIKE ${pattern} OR lower(u.email::text) LIKE ${pattern})`);
  }
  if (q.role !== undefined) parts.push(Prisma.sql`u.role = ${q.role}::"Role"`);
  if (q.disabled !== undefined) parts.push(q.disabled ? Prisma.sql`u.disabled_at IS NOT NULL` : Prisma.sql`u.disabled_at IS NULL`);
  return Prisma.join(parts, ' AND ');
}

const select = (now: Date) => Prisma.sql`
  SELECT u.id::text AS id, u.username::text AS username, u.email::text AS email, u.email_verified_at, u.mfa_enabled_at,
         u.created_at, u.role::text AS role, u.disabled_at, u.disabled_reason,
         CASE WHEN u.locked_until > ${now}::timestamptz THEN u.locked_until END AS locked_until,
         (SELECT e.occurred_at FROM security_events e WHERE e.user_id = u.id AND e.type = 'SIGNED_IN'
           ORDER BY e.occurred_at DESC LIMIT 1) AS last_sign_in_at,
         (SELECT count(*)::int FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL
           AND s.expires_at > ${now}::timestamptz AND s.idle_expires_at > ${now}::timestamptz) AS active_sessions
  FROM users u`;

const fromRow = (r: Row): AdminUserRecord => ({
  id: r.id,
  username: r.username,
  email: r.email,
  emailVerifiedAt: r.email_verified_at,
  mfaEnabledAt: r.mfa_enabled_at,
  createdAt: r.created_at,
  role: r.role,
  disabledAt: r.disabled_at,
  disabledReason: r.disabled_reason,
  lockedUntil: r.locked_until,
  lastSignInAt: r.last_sign_in_at,
  activeSessions: r.active_sessions,
});

/** The only file of the admin feature that touches PostgreSQL: the operators' view of accounts and their lifecycle writes. */
export class AdminRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** A page of accounts, newest first (keyset on created_at, id), and how many match the filter in all. */
  async list(q: UserQuery, take: number, after: UserCursor | undefined, now: Date): Promise<{ rows: AdminUserRecord[]; totalCount: number }> {
    const where = whereOf(q);
    const position = after ? Prisma.sql`AND (u.created_at, u.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : Prisma.empty;
    const [rows, total] = await Promise.all([
      this.prisma.$queryRaw<Row[]>`${select(now)} WHERE ${where} ${position} ORDER BY u.created_at DESC, u.id DESC LIMIT ${take}`,
      this.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM users u WHERE ${where}`,
    ]);
    return { rows: rows.map(fromRow), totalCount: total[0]?.n ?? 0 };
  }

  async find(id: string, now: Date): Promise<AdminUserRecord | null> {
    const rows = await this.prisma.$queryRaw<Row[]>`${select(now)} WHERE u.id = ${id}::uuid`;
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** The account's role; null when there is no such account. */
  async roleOf(id: string): Promise<Role | null> {
    return (await this.prisma.user.findUnique({ where: { id }, select: { role: true } }))?.role ?? null;
  }

  /** By email, without regard to case (citext), for the command line. */
  findByEmail(email: string): Promise<{ id: string; role: Role } | null> {
    return this.prisma.user.findUnique({ where: { email }, select: { id: true, role: true } });
  }

  /**
   * The active (not disabled) ADMIN accounts, each row locked until the transaction ends, in id order (so two
   * changes never wait on each other in a cycle). Under READ COMMITTED a change that waited here re-reads
   * each row once the other commits: an account demoted or disabled meanwhile is no longer counted.
   */
  async lockActiveAdmins(tx: Tx): Promise<string[]> {
    const rows = await clientOf(tx).$queryRaw<{ id: string }[]>`
      SELECT id::text AS id FROM users WHERE role = 'ADMIN' AND disabled_at IS NULL ORDER BY id FOR UPDATE`;
    return rows.map((r) => r.id);
  }

  /** The account, its row locked until the transaction ends; null when it does not exist. */
  async lockTarget(tx: Tx, id: string): Promise<LockedTarget | null> {
    const rows = await clientOf(tx).$queryRaw<LockedTarget[]>`
      SELECT id::text AS id, username::text AS username, email::text AS email, role::text AS role, disabled_at AS "disabledAt"
      FROM users WHERE id = ${id}::uuid FOR UPDATE`;
    return rows[0] ?? null;
  }

  async setRole(tx: Tx, id: string, role: Role): Promise<void> {
    await clientOf(tx).user.update({ where: { id }, data: { role }, select: { id: true } });
  }

  async setDisabled(tx: Tx, id: string, disabled: { at: Date; reason: string | null } | null): Promise<void> {
    await clientOf(tx).user.update({
      where: { id },
      data: disabled ? { disabledAt: disabled.at, disabledReason: disabled.reason } : { disabledAt: null, disabledReason: null },
      select: { id: true },
    });
  }

  /**
   * Erases the account: its emails (sent or queued, with the outbox rows that would send them) and the row
   * itself, whose foreign keys take its sessions, refresh and one-time tokens, recovery codes and security
   * events with it. The audit log has no foreign key: its entries keep the id alone.
   */
  async erase(tx: Tx, id: string): Promise<void> {
    const db = clientOf(tx);
    await db.$executeRaw`
      DELETE FROM outbox_messages o USING email_messages m
      WHERE m.user_id = ${id}::uuid AND o.kind = 'email' AND o.payload->>'emailMessageId' = m.id::text`;
    await db.emailMessage.deleteMany({ where: { userId: id } });
    await db.user.delete({ where: { id }, select: { id: true } });
  }

  /**
   * ADMIN for the accounts whose verified address is listed and which do not hold it yet (only `userId`'s
   * when given); returns each one promoted with the role it held. Two instances doing this at once promote
   * each account once: the second update waits for the first and then finds it ADMIN already.
   */
  async promoteListed(tx: Tx, emails: readonly string[], userId?: string): Promise<{ id: string; from: Role }[]> {
    if (emails.length === 0) return [];
    const only = userId ? Prisma.sql`AND id = ${userId}::uuid` : Prisma.empty;
    return clientOf(tx).$queryRaw<{ id: string; from: Role }[]>`
      WITH listed AS (
        SELECT id, role FROM users
        WHERE lower(email::text) = ANY(${[...emails]}::text[]) AND email_verified_at IS NOT NULL AND role <> 'ADMIN' ${only}
        FOR UPDATE
      )
      UPDATE users u SET role = 'ADMIN', updated_at = now() FROM listed
      WHERE u.id = listed.id AND u.role <> 'ADMIN'
      RETURNING u.id::text AS id, listed.role::text AS "from"`;
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
