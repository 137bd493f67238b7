import type { EmailMessage, Prisma, PrismaClient } from '../../infra/db/index.js';

export type StoredEmail = Pick<EmailMessage, 'id' | 'userId' | 'template' | 'toAddress' | 'status' | 'data' | 'idempotencyKey' | 'attempts'>;

/** The only file of the mail feature that touches PostgreSQL: each email's row and delivery status. */
export class MailRepository {
  constructor(private readonly prisma: PrismaClient) {}

  create(
    tx: Prisma.TransactionClient,
    row: { id: string; userId: string | null; template: string; toAddress: string; data: Prisma.InputJsonObject },
  ): Promise<{ id: string }> {
    return tx.emailMessage.create({ data: { ...row, idempotencyKey: `latchkey-email-${row.id}` }, select: { id: true } });
  }

  find(id: string): Promise<StoredEmail | null> {
    return this.prisma.emailMessage.findUnique({
      where: { id },
      select: { id: true, userId: true, template: true, toAddress: true, status: true, data: true, idempotencyKey: true, attempts: true },
    });
  }

  markSent(id: string, providerId: string): Promise<unknown> {
    return this.prisma.emailMessage.update({ where: { id }, data: { status: 'SENT', providerId, sentAt: new Date(), attempts: { increment: 1 }, lastError: null } });
  }

  markAttemptFailed(id: string, reason: string, final: boolean): Promise<unknown> {
    return this.prisma.emailMessage.update({
      where: { id },
      data: { attempts: { increment: 1 }, lastError: reason.slice(0, 1000), ...(final ? { status: 'FAILED' as const } : {}) },
    });
  }
}
