import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, prepared, Prisma, queryRows, statementPart, transaction, withParts, type PrismaClient, type User } from '../../infra/db/index.js';
import { uniqueViolation } from '../../infra/db/errors.js';
import { recentSessionSql } from '../sessions/sessions.repository.js';

export type UserRecord = Pick<
  User,
  'id' | 'username' | 'email' | 'passwordHash' | 'emailVerifiedAt' | 'mfaEnabledAt' | 'lockedUntil' | 'role' | 'disabledAt' | 'createdAt'
>;

/**
 * The account as every call sees it (the GraphQL `User`, and the profile cache): no hash, no lock state;
 * with its role and its standing (`disabledAt`, which clients are not shown), both read on every call.
 */
export type UserProfile = Pick<UserRecord, 'id' | 'username' | 'email' | 'emailVerifiedAt' | 'mfaEnabledAt' | 'role' | 'disabledAt' | 'createdAt'>;

/** A sign-up collided with an existing account on this identifier (the citext unique index decided). */
export class IdentifierTaken extends Error {
  override readonly name = 'IdentifierTaken';
  constructor(readonly field: 'email' | 'username') {
    super(`${field} is taken`);
  }
}

const USER_FIELDS = {
  id: true,
  username: true,
  email: true,
  passwordHash: true,
  emailVerifiedAt: true,
  mfaEnabledAt: true,
  lockedUntil: true,
  role: true,
  disabledAt: true,
  createdAt: true,
} as const;

const PROFILE_FIELDS = {
  id: true,
  username: true,
  email: true,
  emailVerifiedAt: true,
  mfaEnabledAt: true,
  role: true,
  disabledAt: true,
  createdAt: true,
} as const satisfies Record<keyof UserProfile, true>;


/** The columns of `UserRecord`, for raw reads. */
const SIGN_IN_COLUMNS = Prisma.sql`u.id::text AS id, u.username::text AS username, u.email::text AS email, u.password_hash,
  u.email_verified_at, u.mfa_enabled_at, u.locked_until, u.role::text AS role, u.disabled_at, u.created_at`;

type SignInRow = {
  id: string | null;
  username: string;
  email: string;
  password_hash: string;
  email_verified_at: Date | null;
  mfa_enabled_at: Date | null;
  locked_until: Date | null;
  role: UserRecord['role'];
  disabled_at: Date | null;
  created_at: Date;
  known: boolean;
};

/** A new account as sign-up computes it: its id (randomUUID) and its time chosen in Node. */
export interface NewUser {
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  at: Date;
}

/**
 * The users row of a new account (the one place its shape is written), named `account`: its RETURNING
 * gives the `UserRecord` columns (with `disabled_at`, which a session opened in the same statement is
 * gated on: see `sessionOpeningParts`).
 */
export function newUserPart(u: NewUser): StatementPart {
  return statementPart(
    'account',
    insertRows(
      'users',
      [
        [
          ['id', Prisma.sql`${u.id}::uuid`],
          ['username', Prisma.sql`${u.username}::citext`],
          ['email', Prisma.sql`${u.email}::citext`],
          ['password_hash', Prisma.sql`${u.passwordHash}::text`],
          ['password_changed_at', Prisma.sql`${u.at}::timestamptz`],
          ['created_at', Prisma.sql`${u.at}::timestamptz`],
          ['updated_at', Prisma.sql`${u.at}::timestamptz`],
        ],
      ],
      { as: 'u', returning: SIGN_IN_COLUMNS },
    ),
  );
}

/** The unique index behind each identifier of an account (a collision on any other index is not "taken"). */
const IDENTIFIER_INDEXES: Readonly<Record<string, IdentifierTaken['field']>> = { users_email_key: 'email', users_username_key: 'username' };

/** A write that may collide on an identifier: such a collision (23505 on its unique index) becomes `IdentifierTaken`. */
async function taken<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (e) {
    const field = IDENTIFIER_INDEXES[uniqueViolation(e) ?? ''];
    if (field) throw new IdentifierTaken(field);
    throw e;
  }
}

const userOf = (row: Omit<SignInRow, 'known'>): UserRecord => ({
  id: row.id!,
  username: row.username,
  email: row.email,
  passwordHash: row.password_hash,
  emailVerifiedAt: row.email_verified_at,
  mfaEnabledAt: row.mfa_enabled_at,
  lockedUntil: row.locked_until,
  role: row.role,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
});

/** The users table: the only file of the identity feature that touches PostgreSQL. */
export class UsersRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * A user and, in the same statement (one round trip, its own transaction), everything its creation writes
   * elsewhere (`parts`, which may refer to the new row as the part `account`): all of it or nothing. A
   * duplicate email or username throws `IdentifierTaken` (the unique index decides every race). Prepared
   * while the parts' text stays the same from call to call (it does for sign-up's).
   */
  async createWith(data: NewUser, parts: readonly StatementPart[]): Promise<UserRecord> {
    const statement = prepared('latchkey_create_user_with', Prisma.sql`${withParts([newUserPart(data), ...parts])}
      SELECT * FROM account`);
    const rows = await taken(queryRows<SignInRow>(this.prisma, undefined, statement));
    return userOf(rows[0]!);
  }

  /** By email when the identifier has an `@`, else by username; both without regard to case (citext). */
  findByIdentifier(identifier: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({
      where: identifier.includes('@') ? { email: identifier } : { username: identifier },
      select: USER_FIELDS,
    });
  }

  /**
   * The password sign-in's one read: the account by identifier (as `findByIdentifier`) and whether this
   * address and client held a session of it since `since` (the known-device question of
   * `SessionsService.isKnownDevice`, asked in the same round trip). For an unknown identifier the sessions
   * read runs all the same, for an id that matches nothing, and answers false.
   */
  async findForSignIn(identifier: string, source: { ip: string; userAgent: string | null }, since: Date): Promise<{ user: UserRecord | null; knownDevice: boolean }> {
    const by = identifier.includes('@') ? 'email' : 'username';
    const rows = await queryRows<SignInRow>(
      this.prisma,
      undefined,
      prepared(
        `latchkey_sign_in_by_${by}`,
        Prisma.sql`SELECT ${SIGN_IN_COLUMNS}, ${recentSessionSql(Prisma.sql`u.id`, source, since)} AS known
          FROM (SELECT 1) one LEFT JOIN users u ON u.${Prisma.raw(by)} = ${identifier}::citext`,
      ),
    );
    const row = rows[0];
    if (!row?.id) return { user: null, knownDevice: false };
    return {
      user: userOf(row),
      knownDevice: row.known,
    };
  }

  findById(id: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { id }, select: USER_FIELDS });
  }

  /** The account as a session check reads it (no hash). */
  findProfile(id: string): Promise<UserProfile | null> {
    return this.prisma.user.findUnique({ where: { id }, select: PROFILE_FIELDS });
  }

  updatePasswordHash(tx: Tx, id: string, passwordHash: string, changedAt?: Date): Promise<unknown> {
    return clientOf(tx).user.update({ where: { id }, data: { passwordHash, ...(changedAt ? { passwordChangedAt: changedAt } : {}) }, select: { id: true } });
  }

  /** A rehash of the same password: written only if the hash is still the one verified, so it never undoes a concurrent change. */
  async upgradePasswordHash(id: string, verified: string, passwordHash: string, tx?: Tx): Promise<void> {
    await (tx ? clientOf(tx) : this.prisma).user.updateMany({ where: { id, passwordHash: verified }, data: { passwordHash } });
  }

  /** A reset: the new hash, and any lockout lifted (the owner just proved control of the mailbox). */
  async resetPassword(tx: Tx, id: string, passwordHash: string, at: Date): Promise<void> {
    await clientOf(tx).user.update({ where: { id }, data: { passwordHash, passwordChangedAt: at, lockedUntil: null }, select: { id: true } });
  }

  /** The durable copy of an account-wide lock, which outlives Redis. */
  async setLockedUntil(tx: Tx, id: string, until: Date): Promise<void> {
    await clientOf(tx).user.update({ where: { id }, data: { lockedUntil: until }, select: { id: true } });
  }

  /** Clears the durable lock; returns what the lockout keys are made of. */
  unlock(tx: Tx, id: string): Promise<Pick<UserRecord, 'id' | 'username' | 'email'>> {
    return clientOf(tx).user.update({ where: { id }, data: { lockedUntil: null }, select: { id: true, username: true, email: true } });
  }

  /** As `unlock`, for an account that may no longer exist (an operator's unlock): null when it does not. */
  async unlockIfExists(tx: Tx, id: string): Promise<Pick<UserRecord, 'id' | 'username' | 'email'> | null> {
    const rows = await clientOf(tx).user.updateManyAndReturn({ where: { id }, data: { lockedUntil: null }, select: { id: true, username: true, email: true } });
    return rows[0] ?? null;
  }

  /** True when this call verified the address (false when it already was). */
  async markEmailVerified(tx: Tx, id: string, at: Date): Promise<boolean> {
    const updated = await clientOf(tx).user.updateMany({ where: { id, emailVerifiedAt: null }, data: { emailVerifiedAt: at } });
    return updated.count > 0;
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
