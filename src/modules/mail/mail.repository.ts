import type { StatementPart, Tx } from '../../core/tx.js';
import { clientOf, insertRows, Prisma, sqlOf, statementPart, type EmailMessage, type PrismaClient } from '../../infra/db/index.js';

/** What an email row stores: plain variables, and the ones carrying a token sealed (AES-GCM, bound to the row). */
export interface StoredTemplateData {
  plain: Record<string, unknown>;
  sealed: Record<string, string>;
}

export type StoredEmail = Pick<EmailMessage, 'id' | 'userId' | 'template' | 'toAddress' | 'status' | 'idempotencyKey' | 'attempts'> & { data: StoredTemplateData };

/** An email to queue: its id (randomUUID, which its sealed secrets are bound to) and what to render. */
export interface NewEmail {
  id: string;
  userId: string | null;
  template: string;
  toAddress: string;
  data: StoredTemplateData;
}

/**
 * An email's row (the one place its shape is written), as a statement part: `create` runs it inside the
 * caller's transaction, a statement that writes more runs it with the rest (sign-up). QUEUED, with its
 * idempotency key (also Resend's Idempotency-Key).
 */
export function emailPart(row: NewEmail, opts: { name?: string; at?: Date } = {}): StatementPart {
  const at = opts.at ?? new Date();
  const columns = [
    ['id', Prisma.sql`${row.id}::uuid`],
    ['user_id', Prisma.sql`${row.userId}::uuid`],
    ['template', Prisma.sql`${row.template}::text`],
    ['to_address', Prisma.sql`${row.toAddress}::text`],
    ['data', Prisma.sql`${JSON.stringify(row.data)}::jsonb`],
    ['idempotency_key', Prisma.sql`${`latchkey-email-${row.id}`}::text`],
    ['created_at', Prisma.sql`${at}::timestamptz`],
    ['updated_at', Prisma.sql`${at}::timestamptz`],
  ] as const;
  return statementPart(opts.name ?? 'email_message', insertRows('email_messages', [columns]));
}

/** The only file of the mail feature that touches PostgreSQL: each email's row and delivery status. */
export class MailRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async create(tx: Tx, row: NewEmail): Promise<{ id: string }> {
    await clientOf(tx).$executeRaw(sqlOf(emailPart(row)));
    return { id: row.id };
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
