import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startResendDouble, type ResendDouble } from '../../test/resend-double.js';
import { createResendSender, PermanentMailError, RetriableMailError, type OutgoingEmail } from './sender.js';
import { verifyEmailTemplate } from '../../modules/email-verification/verify-email.template.js';
import { createMailRenderer } from './render.js';

const { render: renderEmail } = createMailRenderer([verifyEmailTemplate]);

const API_KEY = 're_test_0123456789abcdef';
const TOKEN = 'tok_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

let double: ResendDouble;
beforeAll(async () => {
  double = await startResendDouble({ apiKey: API_KEY });
});
afterAll(async () => {
  await double.close();
});
beforeEach(() => double.reset());

let n = 0;
function email(overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  n += 1;
  const rendered = renderEmail('verify-email', {
    username: 'alice',
    link: `http://localhost:4000/auth/verify-email?token=${TOKEN}`,
    expiresInHours: 24,
  });
  return {
    to: `alice${n}@example.com`,
    from: 'Latchkey <no-reply@localhost>',
    ...rendered,
    idempotencyKey: `email-outbox-${n}-${Date.now()}`,
    tags: [{ name: 'template', value: 'verify-email' }],
    ...overrides,
  };
}

async function sendError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the send to fail');
}

describe('createResendSender (the real resend SDK against the local double)', () => {
  it('delivers, returns the provider id, and sends the API key and the idempotency key', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url });
    expect(sender.kind).toBe('resend');
    const mail = email();
    const { providerId } = await sender.send(mail);

    expect(double.delivered).toHaveLength(1);
    const got = double.delivered[0]!;
    expect(providerId).toBe(got.id);
    expect(got.authorization).toBe(`Bearer ${API_KEY}`);
    expect(got.idempotencyKey).toBe(mail.idempotencyKey);
    expect(got.to).toEqual([mail.to]);
    expect(got.from).toBe(mail.from);
    expect(got.subject).toBe('Verify your email address');
    expect(got.text).toBe(mail.text);
    expect(got.html).toBe(mail.html);
    expect(got.tags).toEqual([{ name: 'template', value: 'verify-email' }]);
    expect(got.textLinks.some((l) => l.includes(`token=${TOKEN}`))).toBe(true);
    expect(got.htmlLinks.some((l) => l.includes(`token=${TOKEN}`))).toBe(true);
    expect(double.requests[0]!.path).toBe('/emails');
    expect(double.requests[0]!.headers['user-agent']).toMatch(/^resend-node:/);
  });

  it('a repeated idempotency key answers the same id and is not a second delivery', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: `${double.url}/` });
    const mail = email();
    const first = await sender.send(mail);
    const second = await sender.send(mail);
    expect(second.providerId).toBe(first.providerId);
    expect(double.requests.map((r) => r.outcome)).toEqual(['delivered', 'replayed']);
    expect(double.delivered).toHaveLength(1);
  });

  it('500 is retriable; after two failures the retry with the same key delivers once', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url });
    const mail = email();
    double.failNext(2, 500);
    for (let i = 0; i < 2; i++) {
      const err = await sendError(sender.send(mail));
      expect(err).toBeInstanceOf(RetriableMailError);
      expect(err).toMatchObject({ status: 500, code: 'internal_server_error' });
    }
    const ok = await sender.send(mail);
    expect(double.delivered).toHaveLength(1);
    expect(double.delivered[0]!.id).toBe(ok.providerId);
    expect(new Set(double.requests.map((r) => r.headers['idempotency-key']))).toEqual(new Set([mail.idempotencyKey]));
  });

  it('429 is retriable and carries Retry-After', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url });
    double.failNext(1, 429, { retryAfterSeconds: 3 });
    const err = await sendError(sender.send(email()));
    expect(err).toBeInstanceOf(RetriableMailError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limit_exceeded', retryAfterMs: 3000 });
    expect(double.delivered).toHaveLength(0);
  });

  it('422 for a rejected address is permanent', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url });
    double.reject('bad@example.com');
    const err = await sendError(sender.send(email({ to: 'bad@example.com' })));
    expect(err).toBeInstanceOf(PermanentMailError);
    expect(err).toMatchObject({ status: 422, code: 'validation_error' });
    expect(double.delivered).toHaveLength(0);
  });

  it('a wrong API key is permanent, and the key appears in no error', async () => {
    const sender = createResendSender({ apiKey: 're_wrong_key_42', baseUrl: double.url });
    const err = await sendError(sender.send(email()));
    expect(err).toBeInstanceOf(PermanentMailError);
    expect(err).toMatchObject({ status: 403, code: 'invalid_api_key' });
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain('re_wrong_key_42');
  });

  it('a provider that never answers is a retriable timeout, on time, and delivers nothing', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url, timeoutMs: 300 });
    double.hangNext(1);
    const mail = email();
    const started = Date.now();
    const err = await sendError(sender.send(mail));
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(RetriableMailError);
    expect(err).toMatchObject({ status: null, code: 'timeout' });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2_000);
    // The aborted request is gone from the provider's side; the retry delivers once.
    await new Promise((r) => setTimeout(r, 50));
    double.releaseHangs();
    expect(double.delivered).toHaveLength(0);
    const ok = await sender.send(mail);
    expect(double.delivered.map((d) => d.id)).toEqual([ok.providerId]);
  });

  it('an unreachable provider is a retriable network error', async () => {
    const closed = await startResendDouble();
    const url = closed.url;
    await closed.close();
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: url, timeoutMs: 2_000 });
    const err = await sendError(sender.send(email()));
    expect(err).toBeInstanceOf(RetriableMailError);
    expect(err).toMatchObject({ status: null, code: 'network_error' });
  });
});

describe('the Resend double', () => {
  it('answers a held request normally once released, while its client is still there', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url, timeoutMs: 5_000 });
    double.hangNext(Infinity);
    const pending = sender.send(email({ to: 'held@example.com' }));
    await new Promise((r) => setTimeout(r, 100));
    expect(double.requests.map((r) => r.outcome)).toEqual(['hung']);
    const waiting = double.waitForDelivery((e) => e.to.includes('held@example.com'), 2_000);
    double.releaseHangs();
    const [{ providerId }, delivered] = await Promise.all([pending, waiting]);
    expect(delivered.id).toBe(providerId);
  });

  it('waitForDelivery times out with a useful message', async () => {
    await expect(double.waitForDelivery(() => true, 50)).rejects.toThrow(/no matching delivery within 50 ms/);
  });

  it('the same idempotency key with another payload is a 409 conflict (permanent)', async () => {
    const sender = createResendSender({ apiKey: API_KEY, baseUrl: double.url });
    const mail = email();
    await sender.send(mail);
    const err = await sendError(sender.send({ ...mail, subject: 'Something else' }));
    expect(err).toBeInstanceOf(PermanentMailError);
    expect(err).toMatchObject({ status: 409, code: 'invalid_idempotent_request' });
  });
});
