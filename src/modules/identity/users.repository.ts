import type { Prisma, PrismaClient, User } from '../../infra/db/index.js';

export type UserRecord = Pick<User, 'id' | 'username' | 'email' | 'passwordHash' | 'emailVerifiedAt' | 'mfaEnabledAt' | 'lockedUntil' | 'createdAt'>;

/** What clients may see of an account (the GraphQL `User`): no hash, no lock state. */
export type UserProfile = Pick<UserRecord, 'id' | 'username' | 'email' | 'emailVerifiedAt' | 'mfaEnabledAt' | 'createdAt'>;

const USER_FIELDS = {
  id: true,
  username: true,
  email: true,
  passwordHash: true,
  emailVerifiedAt: true,
  mfaEnabledAt: true,
  lockedUntil: true,
  createdAt: true,
} as const;

const NO_USER = '00000000-0000-0000-0000-000000000000';

/** The users table: the only file of the identity feature that touches PostgreSQL. */
export class UsersRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Inserts a user; a duplicate email or username surfaces as Prisma's P2002 from the citext unique index. */
  create(tx: Prisma.TransactionClient, data: { username: string; email: string; passwordHash: string }): Promise<UserRecord> {
    return tx.user.create({ data, select: USER_FIELDS });
  }

  /** By email when the identifier has an `@`, else by username; both without regard to case (citext). */
  findByIdentifier(identifier: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({
      where: identifier.includes('@') ? { email: identifier } : { username: identifier },
      select: USER_FIELDS,
    });
  }

  /**
   * Whether this address and client (IP + user agent) held a session of the account since `since`: a
   * known source. A null user runs the same query, so an unknown identifier costs the same.
   */
  async hasRecentSession(
    userId: string | null,
    source: { ip: string; userAgent: string | null },
    since: Date,
    db: Prisma.TransactionClient | PrismaClient = this.prisma,
  ): Promise<boolean> {
    const row = await db.session.findFirst({
      where: { userId: userId ?? NO_USER, ip: source.ip, userAgent: source.userAgent, createdAt: { gt: since } },
      select: { id: true },
    });
    return row !== null;
  }

  findById(id: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { id }, select: USER_FIELDS });
  }

  updatePasswordHash(tx: Prisma.TransactionClient | PrismaClient, id: string, passwordHash: string, changedAt?: Date): Promise<unknown> {
    return tx.user.update({ where: { id }, data: { passwordHash, ...(changedAt ? { passwordChangedAt: changedAt } : {}) }, select: { id: true } });
  }

  /** A rehash of the same password: written only if the hash is still the one verified, so it never undoes a concurrent change. */
  async upgradePasswordHash(id: string, verified: string, passwordHash: string, tx: Prisma.TransactionClient | PrismaClient = this.prisma): Promise<void> {
    await tx.user.updateMany({ where: { id, passwordHash: verified }, data: { passwordHash } });
  }

  transaction<T>(fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(fn);
  }
}
