import type { Tx } from '../../core/tx.js';
import { clientOf, transaction, type PrismaClient } from '../../infra/db/index.js';
import type { RecoveryCodeHash } from './recovery-codes.js';

export interface MfaState {
  totpSecretEnc: Uint8Array | null;
  mfaEnabledAt: Date | null;
  totpLastStep: bigint | null;
}

/** The only file of the MFA feature that touches PostgreSQL. */
export class MfaRepository {
  constructor(private readonly prisma: PrismaClient) {}

  state(userId: string): Promise<MfaState | null> {
    return this.prisma.user.findUnique({ where: { id: userId }, select: { totpSecretEnc: true, mfaEnabledAt: true, totpLastStep: true } });
  }

  /** A new secret, pending until confirmed (MFA stays off). Replaces any earlier pending one. */
  async setPending(userId: string, sealedSecret: string): Promise<void> {
    await this.prisma.user.update({ where: { id: userId }, data: { totpSecretEnc: Buffer.from(sealedSecret), mfaEnabledAt: null, totpLastStep: null } });
  }

  /** Records a used time step, only if newer than the last one: of two racing uses of a code, one wins. */
  async claimStep(userId: string, step: number): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      UPDATE users SET totp_last_step = ${step} WHERE id = ${userId}::uuid AND (totp_last_step IS NULL OR totp_last_step < ${step})`;
    return n === 1;
  }

  /** Uses a recovery code, stored under whichever configured key (one statement: it works once). */
  async useRecoveryCode(userId: string, code: RecoveryCodeHash): Promise<boolean> {
    const res = await this.prisma.recoveryCode.updateMany({ where: { userId, codeHash: { in: [...code.candidates] }, usedAt: null }, data: { usedAt: new Date() } });
    return res.count === 1;
  }

  async enable(tx: Tx, userId: string, step: number, codes: RecoveryCodeHash[]): Promise<void> {
    const db = clientOf(tx);
    await db.user.update({ where: { id: userId }, data: { mfaEnabledAt: new Date(), totpLastStep: step } });
    await db.recoveryCode.deleteMany({ where: { userId } });
    await db.recoveryCode.createMany({ data: codes.map((c) => ({ userId, codeHash: c.stored })) });
  }

  async disable(tx: Tx, userId: string): Promise<void> {
    const db = clientOf(tx);
    await db.user.update({ where: { id: userId }, data: { mfaEnabledAt: null, totpSecretEnc: null, totpLastStep: null } });
    await db.recoveryCode.deleteMany({ where: { userId } });
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
