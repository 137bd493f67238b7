import type { PrismaClient } from '../../infra/db/index.js';

/** Retention: how long dead rows stay for audit before they are deleted. */
export const RETENTION_DAYS = 30;

export class MaintenanceRepository {
  /** `refreshReuseGraceSeconds`: how long a rotated refresh token keeps its sealed successor (REFRESH_REUSE_GRACE_SECONDS). */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly refreshReuseGraceSeconds = 0,
  ) {}

  /** Deletes rows past their use and retention; each table in its own statement so one slow table never blocks the rest. */
  async purgeExpired(now: Date): Promise<{ sessions: number; refreshTokens: number; sealedSuccessors: number; oneTimeTokens: number; outbox: number; emails: number; webhookDeliveries: number }> {
    const cutoff = new Date(now.getTime() - RETENTION_DAYS * 86_400_000);
    const refreshTokens = await this.prisma.refreshToken.deleteMany({ where: { expiresAt: { lt: now } } });
    // A successor kept for retries is of no use past the grace: it is not kept past it either.
    const graceStart = new Date(now.getTime() - this.refreshReuseGraceSeconds * 1000);
    const sealedSuccessors = await this.prisma.refreshToken.updateMany({ where: { successorSealed: { not: null }, usedAt: { lt: graceStart } }, data: { successorSealed: null } });
    const oneTimeTokens = await this.prisma.oneTimeToken.deleteMany({
      where: { OR: [{ expiresAt: { lt: now } }, { consumedAt: { lt: cutoff } }] },
    });
    const sessions = await this.prisma.session.deleteMany({
      where: { OR: [{ expiresAt: { lt: cutoff } }, { revokedAt: { lt: cutoff } }, { idleExpiresAt: { lt: cutoff } }] },
    });
    // Handed-over outbox rows and finished emails (whose rows hold sealed link tokens) are not kept forever.
    const outbox = await this.prisma.outboxMessage.deleteMany({ where: { dispatchedAt: { lt: cutoff } } });
    const emails = await this.prisma.emailMessage.deleteMany({ where: { status: { in: ['SENT', 'FAILED'] }, updatedAt: { lt: cutoff } } });
    // Finished webhook deliveries (their bodies name accounts, addresses and clients): their record is kept as long.
    const webhookDeliveries = await this.prisma.webhookDelivery.deleteMany({ where: { status: { in: ['SUCCEEDED', 'FAILED'] }, createdAt: { lt: cutoff } } });
    return {
      sessions: sessions.count,
      refreshTokens: refreshTokens.count,
      sealedSuccessors: sealedSuccessors.count,
      oneTimeTokens: oneTimeTokens.count,
      outbox: outbox.count,
      emails: emails.count,
      webhookDeliveries: webhookDeliveries.count,
    };
  }
}
