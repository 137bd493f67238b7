import { randomUUID } from 'node:crypto';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { Prisma } from '../../infra/db/index.js';
import type { TemplateData, TemplateName } from '../../infra/mail/templates.js';
import { addToOutbox, type OutboxRelay } from '../../infra/outbox/outbox.js';
import type { MailRepository } from './mail.repository.js';

/** What an email row stores: plain variables, and the ones carrying a token sealed (AES-GCM, bound to the row). */
export interface StoredTemplateData {
  plain: Record<string, unknown>;
  sealed: Record<string, string>;
}

/**
 * Queues emails through the transactional outbox: the row and its job commit with the change that
 * caused them (a sign-up, a reset), and tokens inside links are sealed, so neither PostgreSQL nor
 * Redis ever holds one in clear. Sending happens in the worker (mail.worker.ts).
 */
export class MailService {
  constructor(
    private readonly repo: MailRepository,
    private readonly sealer: Sealer,
    private readonly relay: OutboxRelay,
  ) {}

  async queue<T extends TemplateName>(
    tx: Prisma.TransactionClient,
    mail: { userId: string | null; to: string; template: T; data: TemplateData[T]; secret?: (keyof TemplateData[T] & string)[] },
  ): Promise<string> {
    const id = randomUUID();
    const stored: StoredTemplateData = { plain: {}, sealed: {} };
    for (const [key, value] of Object.entries(mail.data as Record<string, unknown>)) {
      if (mail.secret?.includes(key as keyof TemplateData[T] & string)) stored.sealed[key] = this.sealer.seal(String(value), id);
      else stored.plain[key] = value;
    }
    await this.repo.create(tx, { id, userId: mail.userId, template: mail.template, toAddress: mail.to, data: stored as unknown as Prisma.InputJsonObject });
    await addToOutbox(tx, 'email', { emailMessageId: id });
    return id;
  }

  /** Call after the transaction that queued mail has committed: the relay hands it to BullMQ at once. */
  afterCommit(): void {
    this.relay.nudge();
  }

  /** The template variables of a stored email, secrets opened (worker side only). */
  open(id: string, stored: StoredTemplateData): Record<string, unknown> {
    const data: Record<string, unknown> = { ...stored.plain };
    for (const [key, value] of Object.entries(stored.sealed)) data[key] = this.sealer.open(value, id);
    return data;
  }
}
