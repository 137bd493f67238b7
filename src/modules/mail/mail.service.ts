import { randomUUID } from 'node:crypto';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { TemplateData, TemplateName } from '../../infra/mail/render.js';
import type { Tx } from '../../core/tx.js';
import type { Outbox, OutboxRelay } from '../../infra/outbox/outbox.js';
import type { MailRepository, StoredTemplateData } from './mail.repository.js';

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
    private readonly outbox: Outbox,
  ) {}

  async queue<T extends TemplateName>(
    tx: Tx,
    mail: { userId: string | null; to: string; template: T; data: TemplateData[T]; secret?: (keyof TemplateData[T] & string)[] },
  ): Promise<string> {
    const id = randomUUID();
    const stored: StoredTemplateData = { plain: {}, sealed: {} };
    for (const [key, value] of Object.entries(mail.data as Record<string, unknown>)) {
      if (mail.secret?.includes(key as keyof TemplateData[T] & string)) stored.sealed[key] = this.sealer.seal(String(value), id);
      else stored.plain[key] = value;
    }
    await this.repo.create(tx, { id, userId: mail.userId, template: mail.template, toAddress: mail.to, data: stored });
    await this.outbox.add('email', { emailMessageId: id }, { tx });
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
