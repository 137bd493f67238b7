import { createHash, randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Resend's HTTP API, enough for the official SDK pointed at it with
 * `new Resend(key, { baseUrl: double.url })` (or `RESEND_BASE_URL`): `POST /emails` answers
 * `200 { id }`, errors answer `{ statusCode, name, message }` like Resend. It records every request,
 * honours `Idempotency-Key` (a key seen on a success answers the same id and is no new delivery;
 * the same key with another payload answers 409 `invalid_idempotent_request`), and can be told to
 * fail, rate-limit, hang, or reject an address.
 *
 * Order of checks for each request: hang, injected failure, authorization, validation, idempotent
 * replay, rejected address, delivery.
 */

export type RequestOutcome =
  | 'delivered'
  | 'replayed'
  | 'failed'
  | 'hung'
  | 'rejected'
  | 'unauthorized'
  | 'invalid'
  | 'conflict'
  | 'not_found';

export interface RecordedRequest {
  method: string;
  path: string;
  /** Lower-cased names, as Node reports them: `authorization`, `idempotency-key`, `user-agent`. */
  headers: Record<string, string>;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  receivedAt: number;
  outcome: RequestOutcome;
  /** HTTP status answered (`null` while hung or when the client went away first). */
  status: number | null;
}

export interface RecordedEmail {
  /** The id answered (`{ id }`). */
  id: string;
  from: string;
  to: string[];
  subject: string;
  html: string | undefined;
  text: string | undefined;
  tags: { name: string; value: string }[];
  idempotencyKey: string | null;
  authorization: string | null;
  headers: Record<string, string>;
  /** The full request body as the SDK sent it (snake_case). */
  body: Record<string, unknown>;
  /** http(s) links of the text part. */
  textLinks: string[];
  /** `href`s of the HTML part, with HTML entities decoded. */
  htmlLinks: string[];
  receivedAt: number;
}

export interface ResendDoubleOptions {
  /** When set, any other bearer key answers 403 `invalid_api_key` (a missing one 401 `missing_api_key`). */
  apiKey?: string;
}

export interface ResendDouble {
  /** Base URL for the SDK (`baseUrl`) or `RESEND_BASE_URL`, without a trailing slash. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Unique successful deliveries (idempotent replays are not counted again). */
  readonly delivered: RecordedEmail[];
  /** The next `n` requests answer `status` (default 500; 429 adds `retry-after`). */
  failNext(n: number, status?: number, opts?: { retryAfterSeconds?: number }): void;
  /** The next `n` requests (`Infinity`: all until released) get no answer at all. */
  hangNext(n: number): void;
  /** Stops hanging; requests still held whose client is still there are then answered normally. */
  releaseHangs(): void;
  /** Mail to `address` answers `status` (default 422 `validation_error`). */
  reject(address: string, status?: number): void;
  /** Resolves with the first delivery (past or future) matching `predicate`. */
  waitForDelivery(predicate: (email: RecordedEmail) => boolean, timeoutMs: number): Promise<RecordedEmail>;
  /** Forgets requests, deliveries, idempotency keys and every instruction. */
  reset(): void;
  close(): Promise<void>;
}

const ERROR_NAMES: Record<number, string> = {
  400: 'validation_error',
  401: 'missing_api_key',
  403: 'invalid_api_key',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'invalid_idempotent_request',
  422: 'validation_error',
  429: 'rate_limit_exceeded',
  500: 'internal_server_error',
};

const errorName = (status: number): string => ERROR_NAMES[status] ?? (status >= 500 ? 'internal_server_error' : 'application_error');

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const textLinks = (text: string | undefined): string[] =>
  [...(text ?? '').matchAll(/\bhttps?:\/\/[^\s<>"'`]+/gi)].map((m) => m[0].replace(/[.,;:!?)\]}]+$/, ''));

const htmlLinks = (html: string | undefined): string[] =>
  [...(html ?? '').matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) => decodeEntities(m[1] ?? m[2] ?? ''));

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);

interface Held {
  res: ServerResponse;
  record: RecordedRequest;
}

export async function startResendDouble(options: ResendDoubleOptions = {}): Promise<ResendDouble> {
  const requests: RecordedRequest[] = [];
  const delivered: RecordedEmail[] = [];
  /** Idempotency key -> answered id and payload fingerprint. */
  const idempotent = new Map<string, { id: string; fingerprint: string }>();
  const rejected = new Map<string, number>();
  const held = new Set<Held>();
  const waiters = new Set<{ predicate: (e: RecordedEmail) => boolean; resolve: (e: RecordedEmail) => void }>();
  let failures: { remaining: number; status: number; retryAfterSeconds: number } = { remaining: 0, status: 500, retryAfterSeconds: 1 };
  let hangs = 0;

  const send = (res: ServerResponse, record: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, record: RecordedRequest, status: number, message: string, name = errorName(status), headers?: Record<string, string>) =>
    send(res, record, status, { statusCode: status, name, message }, headers);

  /** Everything after the hang and failure injection: what Resend itself would answer. */
  const handle = (res: ServerResponse, record: RecordedRequest) => {
    const auth = record.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || auth.length <= 'Bearer '.length) {
      record.outcome = 'unauthorized';
      return fail(res, record, 401, 'Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY');
    }
    if (options.apiKey !== undefined && auth !== `Bearer ${options.apiKey}`) {
      record.outcome = 'unauthorized';
      return fail(res, record, 403, 'API key is invalid');
    }
    const body = record.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      record.outcome = 'invalid';
      return fail(res, record, 422, 'Invalid JSON body', 'validation_error');
    }
    const b = body as Record<string, unknown>;
    const to = asList(b.to);
    for (const field of ['from', 'subject'] as const) {
      if (typeof b[field] !== 'string' || b[field] === '') {
        record.outcome = 'invalid';
        return fail(res, record, 422, `Missing \`${field}\` field.`, 'missing_required_field');
      }
    }
    if (to.length === 0) {
      record.outcome = 'invalid';
      return fail(res, record, 422, 'Missing `to` field.', 'missing_required_field');
    }
    if (typeof b.html !== 'string' && typeof b.text !== 'string') {
      record.outcome = 'invalid';
      return fail(res, record, 422, 'Missing `html` or `text` field.', 'missing_required_field');
    }

    const key = record.headers['idempotency-key'] ?? null;
    const fingerprint = createHash('sha256').update(JSON.stringify(b)).digest('hex');
    if (key !== null) {
      const seen = idempotent.get(key);
      if (seen && seen.fingerprint !== fingerprint) {
        record.outcome = 'conflict';
        return fail(res, record, 409, 'Same idempotency key used with a different request payload.', 'invalid_idempotent_request');
      }
      if (seen) {
        record.outcome = 'replayed';
        return send(res, record, 200, { id: seen.id });
      }
    }
    for (const address of to) {
      const status = rejected.get(bareAddress(address));
      if (status !== undefined) {
        record.outcome = 'rejected';
        return fail(res, record, status, 'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.');
      }
    }

    // A client that gave up while held is gone: nothing is delivered for it.
    if (res.destroyed || res.writableEnded || (res.socket?.destroyed ?? true)) {
      record.outcome = 'hung';
      return;
    }
    const id = randomUUID();
    if (key !== null) idempotent.set(key, { id, fingerprint });
    const email: RecordedEmail = {
      id,
      from: String(b.from),
      to,
      subject: String(b.subject),
      html: typeof b.html === 'string' ? b.html : undefined,
      text: typeof b.text === 'string' ? b.text : undefined,
      tags: Array.isArray(b.tags) ? (b.tags as { name: string; value: string }[]) : [],
      idempotencyKey: key,
      authorization: record.headers.authorization ?? null,
      headers: record.headers,
      body: b,
      textLinks: textLinks(typeof b.text === 'string' ? b.text : undefined),
      htmlLinks: htmlLinks(typeof b.html === 'string' ? b.html : undefined),
      receivedAt: record.receivedAt,
    };
    delivered.push(email);
    record.outcome = 'delivered';
    send(res, record, 200, { id });
    for (const w of [...waiters]) {
      if (w.predicate(email)) {
        waiters.delete(w);
        w.resolve(email);
      }
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // keep the raw text
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const record: RecordedRequest = { method: req.method ?? 'GET', path, headers, body, receivedAt: Date.now(), outcome: 'not_found', status: null };
      requests.push(record);

      if (path !== '/emails') return fail(res, record, 404, 'The requested endpoint does not exist.');
      if (req.method !== 'POST') {
        record.outcome = 'not_found';
        return fail(res, record, 405, 'Method is not allowed for the requested path.');
      }
      if (hangs > 0) {
        hangs -= 1;
        record.outcome = 'hung';
        const h: Held = { res, record };
        held.add(h);
        res.on('close', () => held.delete(h));
        return;
      }
      if (failures.remaining > 0) {
        failures.remaining -= 1;
        record.outcome = 'failed';
        const { status, retryAfterSeconds } = failures;
        return fail(res, record, status, status === 429 ? 'Too many requests. You can only make 2 requests per second.' : 'Injected failure from the Resend test double.', undefined, status === 429 ? { 'retry-after': String(retryAfterSeconds) } : {});
      }
      handle(res, record);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    delivered,
    failNext(n, status = 500, opts = {}) {
      failures = { remaining: n, status, retryAfterSeconds: opts.retryAfterSeconds ?? 1 };
    },
    hangNext(n) {
      hangs = n;
    },
    releaseHangs() {
      hangs = 0;
      for (const h of [...held]) {
        held.delete(h);
        handle(h.res, h.record);
      }
    },
    reject(address, status = 422) {
      rejected.set(bareAddress(address), status);
    },
    waitForDelivery(predicate, timeoutMs) {
      const found = delivered.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<RecordedEmail>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (e: RecordedEmail) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`Resend double: no matching delivery within ${timeoutMs} ms (${delivered.length} delivered, ${requests.length} requests)`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    reset() {
      requests.length = 0;
      delivered.length = 0;
      idempotent.clear();
      rejected.clear();
      failures = { remaining: 0, status: 500, retryAfterSeconds: 1 };
      hangs = 0;
    },
    async close() {
      hangs = 0;
      for (const h of held) h.res.destroy();
      held.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** `Name <a@b.c>` -> `a@b.c`, lower-cased. */
function bareAddress(address: string): string {
  const m = /<([^>]+)>\s*$/.exec(address);
  return (m?.[1] ?? address).trim().toLowerCase();
}
