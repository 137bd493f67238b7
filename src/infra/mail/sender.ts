import { Resend, type ErrorResponse } from 'resend';

/** One email ready to go: rendered, addressed, with the key that makes a retried send a no-op. */
export interface OutgoingEmail {
  to: string;
  from: string;
  subject: string;
  html: string;
  text: string;
  /** Stable across retries of the same email (derived from the outbox row); Resend keeps it 24 h. */
  idempotencyKey: string;
  /** Resend tags: names and values of ASCII letters, digits, `_` and `-`. */
  tags?: { name: string; value: string }[];
}

export interface SendResult {
  providerId: string;
}

export interface MailErrorOptions {
  /** HTTP status from the provider; `null` when no answer came (network error, timeout). */
  status?: number | null;
  /** Provider error name (`rate_limit_exceeded`, `validation_error`, ...) or `timeout` / `network_error`. */
  code?: string;
  /** From `Retry-After`, when the provider sent one. */
  retryAfterMs?: number;
  cause?: unknown;
}

abstract class MailError extends Error {
  readonly status: number | null;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: MailErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? null;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** 429, 5xx, timeouts, network errors: the job retries (same idempotency key). */
export class RetriableMailError extends MailError {
  override readonly name = 'RetriableMailError';
}

/** Other 4xx (bad address, bad key, bad payload): retrying cannot help. */
export class PermanentMailError extends MailError {
  override readonly name = 'PermanentMailError';
}

export interface MailSender {
  readonly kind: 'resend' | 'dev-outbox';
  send(email: OutgoingEmail): Promise<SendResult>;
}

export interface ResendSenderOptions {
  apiKey: string;
  /** Resend API base URL (a test double in tests). Default: Resend's own, whatever the environment says. */
  baseUrl?: string;
  /** Deadline for one send, connection to last body byte. Default 10 s. */
  timeoutMs?: number;
}

export const RESEND_DEFAULT_BASE_URL = 'https://api.resend.com';

/** Provider error names that mean "try again later" whatever their status. */
const RETRIABLE_NAMES = new Set(['internal_server_error', 'rate_limit_exceeded', 'concurrent_idempotent_requests']);

function retryAfterMs(headers: Record<string, string> | null): number | undefined {
  const raw = headers?.['retry-after'];
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Maps the SDK's `{ error }` (it never throws for HTTP errors) to the two error classes.
 * `statusCode: null` is the SDK's word for "no HTTP answer": network error, abort, unreadable body.
 */
export function classifyResendError(
  error: ErrorResponse,
  headers: Record<string, string> | null = null,
): RetriableMailError | PermanentMailError {
  const status = typeof error.statusCode === 'number' ? error.statusCode : null;
  const name = String(error.name ?? 'unknown_error');
  const message = `Resend answered ${status ?? 'without a status'} ${name}: ${String(error.message ?? '')}`.trim();
  const options: MailErrorOptions = { status, code: name, retryAfterMs: retryAfterMs(headers) };
  if (status === null || status === 408 || status === 429 || status >= 500 || RETRIABLE_NAMES.has(name)) {
    return new RetriableMailError(message, { ...options, code: status === null && name === 'application_error' ? 'network_error' : name });
  }
  return new PermanentMailError(message, options);
}

/**
 * Sends through the official `resend` SDK. The SDK takes `new Resend(key, { baseUrl })`, posts to
 * `${baseUrl}/emails`, sends `Idempotency-Key` from the request options and passes `signal` to
 * `fetch`; an abort comes back as `{ error: { statusCode: null } }`, so the timeout is also raced.
 * Nothing here logs: neither the API key nor the bodies (they carry tokens) leave this function.
 */
export function createResendSender(opts: ResendSenderOptions): MailSender {
  if (!opts.apiKey) throw new Error('createResendSender: apiKey is required');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (!(timeoutMs > 0)) throw new Error('createResendSender: timeoutMs must be positive');
  // An explicit base URL: the SDK would otherwise read RESEND_BASE_URL itself, and config is parsed once.
  const baseUrl = (opts.baseUrl ?? RESEND_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const client = new Resend(opts.apiKey, { baseUrl });

  return {
    kind: 'resend',
    async send(email) {
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new RetriableMailError(`Resend did not answer within ${timeoutMs} ms`, { status: null, code: 'timeout' });
          controller.abort(err);
          reject(err);
        }, timeoutMs);
      });
      try {
        const res = await Promise.race([
          client.emails.send(
            {
              from: email.from,
              to: email.to,
              subject: email.subject,
              html: email.html,
              text: email.text,
              ...(email.tags && email.tags.length > 0 ? { tags: email.tags } : {}),
            },
            { idempotencyKey: email.idempotencyKey, signal: controller.signal },
          ),
          deadline,
        ]);
        if (controller.signal.aborted) throw controller.signal.reason;
        if (res.error) throw classifyResendError(res.error, res.headers);
        const id = res.data?.id;
        if (typeof id !== 'string' || id.length === 0) {
          throw new RetriableMailError('Resend answered 2xx without an email id', { code: 'bad_response' });
        }
        return { providerId: id };
      } catch (err) {
        if (err instanceof RetriableMailError || err instanceof PermanentMailError) throw err;
        // Anything else thrown by the SDK or fetch: not a verdict on the email, so try again later.
        throw new RetriableMailError('Resend request failed', { status: null, code: 'network_error', cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
