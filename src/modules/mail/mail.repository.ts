import type { Tx } from '../../core/tx.js';
import { clientOf, type EmailMessage, type Prisma, type PrismaClient } from '../../infra/db/index.js';

/** What an email row stores: plain variables, and the ones carrying a token sealed (AES-GCM, bound to the row). */
export interface StoredTemplateData {
  plain: Record<string, unknown>;
  sealed: Record<string, string>;
}

export type StoredEmail = Pick<EmailMessage, 'id' | 'userId' | 'template' | 'toAddress' | 'status' | 'idempotencyKey' | 'attempts'> & { data: StoredTemplateData };

/** The only file of the mail feature that touches PostgreSQL: each email's row and delivery status. */
export class MailRepository {
  constructor(private readonly prisma: PrismaClient) {}

  create(tx: Tx, row: { id: string; userId: string | null; template: string; toAddress: string; data: StoredTemplateData }): Promise<{ id: string }> {
    const data = { ...row, data: row.data as unknown as Prisma.InputJsonObject, idempotencyKey: `latchkey-email-${row.id}` };
    return clientOf(tx).emailMessage.create({ data, select: { id: true } });
  }

  async find(id: string): Promise<StoredEmail | null> {
    const row = await this.prisma.emailMessage.findUnique({
      where: { id },
      select: { id: true, userId: true, template: true, toAddress: true, status: true, data: true, idempotencyKey: true, attempts: true },
    });
    // The column holds what `create` wrote: a StoredTemplateData.
    return row && { ...row, data: row.data as unknown as StoredTemplateData };
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
