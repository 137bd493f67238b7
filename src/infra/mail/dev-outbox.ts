import { randomUUID } from 'node:crypto';
import type { Sealer } from '../crypto/sealed.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import { RetriableMailError, type MailSender, type OutgoingEmail, type SendResult } from './sender.js';

/** A mail kept by the development outbox (no `RESEND_API_KEY`), as `GET /dev/mail` lists it. */
export interface DevMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** http(s) links of the text part, in order, without repeats. */
  links: string[];
  sentAt: string;
}

export interface DevOutbox extends MailSender {
  /** Newest first; `limit` defaults to 50 and is capped at the outbox size. */
  list(limit?: number): Promise<DevMail[]>;
}

export interface DevOutboxOptions {
  /** Seals each kept mail (the app's data-encryption key): the bodies carry live link tokens. */
  sealer: Sealer;
  /** Mails kept; older ones are dropped. Default 200. */
  max?: number;
}

const DEFAULT_MAX = 200;
const DEFAULT_LIST = 50;
const LIST_TTL_SECONDS = 7 * 24 * 3600;
/** Like Resend: a repeated idempotency key within 24 h answers the first id and stores nothing. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

// KEYS[1] list, KEYS[2] idempotency key; ARGV: sealed mail, id, max, list TTL, key TTL, use key (1/0).
// One script, so a retried job never stores twice and a stored mail always has its key recorded.
const STORE = `
if ARGV[6] == '1' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return {0, seen} end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[6] == '1' then redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[5])) end
return {1, ARGV[2]}
`;

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}]+$/;

/** The http(s) URLs of a text part, in order of appearance, without repeats or trailing punctuation. */
export function extractLinks(text: string): string[] {
  const seen = new Set<string>();
  for (const match of text.matchAll(URL_IN_TEXT)) {
    const url = match[0].replace(TRAILING_PUNCTUATION, '');
    if (url.length > 'https://'.length) seen.add(url);
  }
  return [...seen];
}

/**
 * Development mail sink: each mail goes to the Redis list `${keyPrefix}dev-mail` (newest first,
 * capped, expiring after 7 days), shared by every instance, and is listed at `GET /dev/mail`.
 * Bodies carry live tokens, so each mail is stored sealed (AES-256-GCM, bound to the list key) and
 * opened only when listed; the log line names the recipient, subject and id only.
 */
export function createDevOutbox(redis: Redis, keyPrefix: string, log: Logger, opts: DevOutboxOptions): DevOutbox {
  const { sealer } = opts;
  const max = Math.max(1, Math.floor(opts.max ?? DEFAULT_MAX));
  const listKey = `${keyPrefix}dev-mail`;
  const idemKey = (key: string) => `${keyPrefix}dev-mail:idem:${key}`;

  return {
    kind: 'dev-outbox',

    async send(email: OutgoingEmail): Promise<SendResult> {
      const id = `dev-${randomUUID()}`;
      const mail: DevMail = {
        id,
        to: email.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        links: extractLinks(email.text),
        sentAt: new Date().toISOString(),
      };
      const useKey = email.idempotencyKey ? '1' : '0';
      let stored: boolean;
      let providerId: string;
      try {
        const [fresh, existing] = (await redis.eval(
          STORE,
          2,
          listKey,
          idemKey(email.idempotencyKey || 'none'),
          sealer.seal(JSON.stringify(mail), listKey),
          id,
          String(max),
          String(LIST_TTL_SECONDS),
          String(IDEMPOTENCY_TTL_SECONDS),
          useKey,
        )) as [number, string];
        stored = fresh === 1;
        providerId = existing;
      } catch (cause) {
        throw new RetriableMailError('dev outbox: Redis did not store the mail', { status: null, code: 'redis_error', cause });
      }
      if (stored) {
        log.info({ to: email.to, subject: email.subject, id: providerId }, 'dev outbox: mail kept (listed at GET /dev/mail)');
      } else {
        log.info({ to: email.to, subject: email.subject, id: providerId }, 'dev outbox: repeated idempotency key, mail not kept again');
      }
      return { providerId };
    },

    async list(limit = DEFAULT_LIST): Promise<DevMail[]> {
      const n = Math.min(max, Math.max(1, Number.isFinite(limit) ? Math.floor(limit) : DEFAULT_LIST));
      const raw = await redis.lrange(listKey, 0, n - 1);
      const mails: DevMail[] = [];
      for (const item of raw) {
        try {
          mails.push(JSON.parse(sealer.open(item, listKey)) as DevMail);
        } catch {
          // A foreign value, or one sealed under another secret: skip it rather than fail the page.
        }
      }
      return mails;
    },
  };
}
