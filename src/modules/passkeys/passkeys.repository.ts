import type { Tx } from '../../core/tx.js';
import { uniqueViolation } from '../../infra/db/errors.js';
import { clientOf, transaction, type PrismaClient } from '../../infra/db/index.js';

/** A stored passkey: what verifies its assertions, and what the owner sees of it. */
export interface PasskeyRecord {
  id: string;
  userId: string;
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: bigint;
  transports: string[];
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface NewPasskey {
  userId: string;
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  name: string;
  deviceType: string;
  backedUp: boolean;
}

/** The credential id is someone's already (this account's or another's). */
export class CredentialTaken extends Error {
  override readonly name = 'CredentialTaken';
}

const SELECT = { id: true, userId: true, credentialId: true, publicKey: true, counter: true, transports: true, name: true, createdAt: true, lastUsedAt: true } as const;

/** The only file of the passkeys feature that touches PostgreSQL. */
export class PasskeysRepository {
  constructor(private readonly prisma: PrismaClient) {}

  listFor(userId: string): Promise<PasskeyRecord[]> {
    return this.prisma.passkey.findMany({ where: { userId }, select: SELECT, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  byCredentialId(credentialId: string): Promise<PasskeyRecord | null> {
    return this.prisma.passkey.findUnique({ where: { credentialId }, select: SELECT });
  }

  /**
   * Adds a passkey unless the account already holds `max` (counted under a lock of the account's row, so
   * concurrent registrations cannot pass the cap together). Null when at the cap.
   */
  async add(tx: Tx, p: NewPasskey, max: number): Promise<PasskeyRecord | null> {
    const db = clientOf(tx);
    await db.$queryRaw`SELECT 1 FROM users WHERE id = ${p.userId}::uuid FOR UPDATE`;
    if ((await db.passkey.count({ where: { userId: p.userId } })) >= max) return null;
    try {
      return await db.passkey.create({
        data: { ...p, publicKey: Buffer.from(p.publicKey), counter: BigInt(p.counter) },
        select: SELECT,
      });
    } catch (e) {
      if (uniqueViolation(e) !== undefined) throw new CredentialTaken('credential already registered');
      throw e;
    }
  }

  /** Removes one of the account's passkeys; its name when it was there. */
  async remove(tx: Tx, userId: string, id: string): Promise<{ name: string } | null> {
    const rows = await clientOf(tx).$queryRaw<{ name: string }[]>`DELETE FROM passkeys WHERE id = ${id}::uuid AND user_id = ${userId}::uuid RETURNING name`;
    return rows[0] ?? null;
  }

  /**
   * Records a verified use: the new counter and the time, only if the counter moves forward (or the
   * authenticator keeps none: both 0). One statement, so of two assertions racing with one counter value
   * only one is accepted. False when the stored counter is already at or past `counter`.
   */
  async recordUse(tx: Tx, id: string, counter: number, at: Date): Promise<boolean> {
    const n = await clientOf(tx).$executeRaw`
      UPDATE passkeys SET counter = ${counter}, last_used_at = ${at}::timestamptz
      WHERE id = ${id}::uuid AND (counter < ${counter} OR (counter = 0 AND ${counter} = 0))`;
    return n === 1;
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
