import type { ResendDouble } from './resend-double.js';

/** Fast delivery settings for tests: short back-off, frequent outbox sweeps, short job locks. */
export const FAST_MAIL_ENV = {
  EMAIL_RETRY_DELAY_MS: '50',
  OUTBOX_POLL_MS: '100',
  JOB_LOCK_MS: '1500',
  PUBLIC_URL: 'http://auth.test.local',
  APP_URL: 'http://app.test.local',
};

/**
 * What a production-mode test server needs for mail: production refuses to start without a provider.
 * Nothing answers at this address, and such servers run no workers, so nothing is ever sent.
 */
export const PRODUCTION_MAIL_ENV = { RESEND_API_KEY: 're_test_key_123', RESEND_BASE_URL: 'http://127.0.0.1:9' };

/** What points a server's (or a spawned worker's) real Resend client at the test double, with fast delivery. */
export const mailEnv = (double: ResendDouble): Record<string, string> => ({
  RESEND_API_KEY: 're_test_key_123',
  RESEND_BASE_URL: double.url,
  ...FAST_MAIL_ENV,
});

/** True when the email went to an address containing `fragment`. */
export const sentTo = (m: { to: string[] }, fragment: string) => m.to.some((a) => a.toLowerCase().includes(fragment.toLowerCase()));

/** Requests (attempts) the double received for an address. */
export const attemptsFor = (double: ResendDouble, fragment: string) =>
  double.requests.filter((r) => JSON.stringify((r.body as { to?: unknown } | undefined)?.to ?? '').toLowerCase().includes(fragment.toLowerCase()));

/** The token of the first `token=` link in a text. */
export function tokenIn(text: string | undefined): string {
  text ??= '';
  const m = /[?&]token=([A-Za-z0-9_%-]+)/.exec(text);
  if (!m?.[1]) throw new Error(`no token link in: ${text.slice(0, 200)}`);
  return decodeURIComponent(m[1]);
}

/** Verifies an account's address with the link in the verification email (the double saw it), as an API client asking for JSON. */
export async function verifyEmailOf(server: { url: string }, double: ResendDouble, email: string): Promise<void> {
  const mail = await double.waitForDelivery((m) => sentTo(m, email) && /verify/i.test(m.subject), 10_000);
  const res = await fetch(`${server.url}/auth/verify-email?token=${encodeURIComponent(tokenIn(mail.text))}`, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`verifying ${email} answered ${res.status}`);
}
