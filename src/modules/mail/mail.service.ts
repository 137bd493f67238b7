import { randomUUID } from 'node:crypto';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { TemplateData, TemplateName } from '../../infra/mail/render.js';
import type { StatementPart, Tx } from '../../core/tx.js';
import { outboxPart, type Outbox, type OutboxRelay } from '../../infra/outbox/outbox.js';
import { emailPart, type MailRepository, type NewEmail, type StoredTemplateData } from './mail.repository.js';

/** An email to queue: to whom, which template with what, and which variables carry a secret (sealed). */
export interface MailToQueue<T extends TemplateName> {
  userId: string | null;
  to: string;
  template: T;
  data: TemplateData[T];
  secret?: (keyof TemplateData[T] & string)[];
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
    private readonly outbox: Outbox,
  ) {}

  async queue<T extends TemplateName>(tx: Tx, mail: MailToQueue<T>): Promise<string> {
    const email = this.stored(mail);
    await this.repo.create(tx, email);
    await this.outbox.add('email', { emailMessageId: email.id }, { tx });
    return email.id;
  }

  /**
   * `queue` as parts of the caller's statement (the email's row and its outbox job, named `email_message`
   * and `email_outbox`: one email per statement), for a change that commits in one statement (sign-up).
   * Call `afterCommit` once it has.
   */
  queueParts<T extends TemplateName>(mail: MailToQueue<T>): StatementPart[] {
    const email = this.stored(mail);
    return [emailPart(email), outboxPart('email', [{ id: randomUUID(), payload: { emailMessageId: email.id } }], { name: 'email_outbox' })];
  }

  /** The row of an email: a new id, and the variables named `secret` sealed, bound to that id. */
  private stored<T extends TemplateName>(mail: MailToQueue<T>): NewEmail {
    const id = randomUUID();
    const stored: StoredTemplateData = { plain: {}, sealed: {} };
    for (const [key, value] of Object.entries(mail.data as Record<string, unknown>)) {
      if (mail.secret?.includes(key as keyof TemplateData[T] & string)) stored.sealed[key] = this.sealer.seal(String(value), id);
      else stored.plain[key] = value;
    }
    return { id, userId: mail.userId, template: mail.template, toAddress: mail.to, data: stored };
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
