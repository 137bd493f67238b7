import { z } from 'zod';

/**
 * Every environment variable the service reads, with its range and default (README "Configuration",
 * docs/api.md "Configuration"). `loadConfig` (config.ts) parses it once and shapes the result.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));
/** A limit as `points/seconds` (e.g. `10/900`), or `off`. */
const limitRule = z
  .string()
  .regex(/^(off|\d+\/\d+)$/, 'must be `points/seconds` (e.g. 10/900) or `off`')
  .transform((s) => {
    if (s === 'off') return null;
    const [points, windowSeconds] = s.split('/').map(Number) as [number, number];
    return { points, windowSeconds };
  });
/** An alert rule's threshold as `count/seconds` (at least `count` events within `seconds`), or `off`. */
const alertRule = z
  .string()
  .regex(/^(off|\d+\/\d+)$/, 'must be `count/seconds` (e.g. 10/600) or `off`')
  .transform((s) => {
    if (s === 'off') return null;
    const [threshold, windowSeconds] = s.split('/').map(Number) as [number, number];
    return { threshold, windowSeconds };
  })
  // Each network's counter holds at most `threshold` entries for at most a day: memory stays bounded.
  .refine((r) => r === null || (r.threshold >= 2 && r.threshold <= 1000), 'count must be 2 to 1000')
  .refine((r) => r === null || (r.windowSeconds >= 60 && r.windowSeconds <= 86_400), 'seconds must be 60 to 86400');
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** @default 4000 */
  PORT: int(0, 65535).default(4000),
  /** @default 127.0.0.1 outside production (GraphiQL and /dev/mail stay on this machine), 0.0.0.0 in production */
  HOST: z.string().min(1).optional(),
  /** Base URL used in emails and as the JWT `iss`. @default http://localhost:$PORT */
  PUBLIC_URL: url.optional(),
  /** Base URL of the pages emailed links open (reset, magic link, deny sign-in, sessions). @default PUBLIC_URL/account (the built-in console) */
  APP_URL: url.optional(),
  /** Unset: an embedded PostgreSQL kept under `.data/` (never in production). */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** @default redis://127.0.0.1:6379 */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key, queue and channel, so several deployments or test files can share one Redis. */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default('latchkey:'),
  RESEND_API_KEY: z.string().min(1).optional(),
  RESEND_BASE_URL: url.optional(),
  /** @default Latchkey <no-reply@localhost> */
  EMAIL_FROM: z.string().min(3).default('Latchkey <no-reply@localhost>'),
  /** Delivery attempts before an email is marked failed. @default 8 */
  EMAIL_MAX_ATTEMPTS: int(1, 50).default(8),
  /** First retry delay; it doubles each attempt. @default 5000 */
  EMAIL_RETRY_DELAY_MS: int(10, 3_600_000).default(5_000),
  /** How often each process sweeps the outbox for rows not yet handed to the queue. @default 1000 */
  OUTBOX_POLL_MS: int(20, 60_000).default(1_000),
  /** A job whose worker stops renewing its lock this long is retried elsewhere (a killed worker). @default 30000 */
  JOB_LOCK_MS: int(500, 600_000).default(30_000),
  /** Logins per (IP, identifier): `points/seconds`, or `off`. @default 10/900 */
  RATE_LIMIT_LOGIN: limitRule.prefault('10/900'),
  /** Logins per IP, whatever the identifier. @default 100/900 */
  RATE_LIMIT_LOGIN_IP: limitRule.prefault('100/900'),
  /** Sign-ups per IP. @default 30/300 */
  RATE_LIMIT_REGISTER: limitRule.prefault('30/300'),
  /** Password-reset requests per submitted email, known or not. @default 5/3600 */
  RATE_LIMIT_RESET_REQUEST: limitRule.prefault('5/3600'),
  /** Verification-email resends per user. @default 5/3600 */
  RATE_LIMIT_VERIFY_RESEND: limitRule.prefault('5/3600'),
  /** Refreshes per IP. @default 600/60 */
  RATE_LIMIT_REFRESH: limitRule.prefault('600/60'),
  /** MFA codes per challenge and per account (used by MFA). @default 5/300 */
  RATE_LIMIT_MFA: limitRule.prefault('5/300'),
  /** Proofs of the owner (reauthenticate, changePassword) per account, whatever the IP. @default 10/900 */
  RATE_LIMIT_REAUTH: limitRule.prefault('10/900'),
  /** Operator calls (the admin API) per operator account, whatever the IP. @default 300/60 */
  RATE_LIMIT_ADMIN: limitRule.prefault('300/60'),
  /** Magic-link requests per submitted email, known or not. @default 5/3600 */
  RATE_LIMIT_MAGIC_LINK_REQUEST: limitRule.prefault('5/3600'),
  /** Token introspections (POST /oauth/introspect) per service key, whatever the IP. @default 6000/60 */
  RATE_LIMIT_INTROSPECT: limitRule.prefault('6000/60'),
  /** Passkey sign-in assertions (finishPasskeyLogin) per IP. @default 60/900 */
  RATE_LIMIT_PASSKEY_LOGIN: limitRule.prefault('60/900'),
  /** Passkey sign-in challenges (startPasskeyLogin, asked by sign-in pages for passkey autofill) per IP. @default 60/60 */
  RATE_LIMIT_PASSKEY_CHALLENGE: limitRule.prefault('60/60'),
  /** Every other operation (each GraphQL root field, each REST call) per IP. @default 1200/60 */
  RATE_LIMIT_GENERAL: limitRule.prefault('1200/60'),
  /** Per-IP limits count an IPv6 client by its network of this many bits (one host usually owns a /64). @default 64 */
  RATE_LIMIT_IPV6_PREFIX: int(32, 128).default(64),
  /** Security alert: failed sign-ins for this many distinct identifiers from one IP network within the window. @default 10/600 */
  ALERT_CREDENTIAL_STUFFING: alertRule.prefault('10/600'),
  /** Security alert: this many refused sign-ups from one IP network within the window. @default 20/600 */
  ALERT_SIGNUP_BURST: alertRule.prefault('20/600'),
  /** Emails whose accounts hold ADMIN once the address is verified, comma-separated. Unset: none. */
  ADMIN_EMAILS: list.optional(),
  /** The issuer shown by authenticator apps for TOTP. @default Latchkey */
  MFA_ISSUER: z.string().min(1).max(64).default('Latchkey'),
  /** The WebAuthn relying-party id passkeys are bound to: a domain, the origins' host or a parent of it. @default the host of APP_URL */
  WEBAUTHN_RP_ID: z
    .string()
    .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'must be a domain name such as example.com')
    .transform((s) => s.toLowerCase())
    .optional(),
  /** Origins a passkey ceremony may run on (the page calling navigator.credentials), comma-separated. @default the origin of APP_URL */
  WEBAUTHN_ORIGINS: list.optional(),
  /** Failed logins per account (any IP) within LOCKOUT_WINDOW that lock it. @default 50 */
  LOCKOUT_THRESHOLD: int(1, 99).default(50),
  /** @default 3600 */
  LOCKOUT_WINDOW: int(60, 86_400).default(3600),
  /** First lock's length; each later lock doubles it. @default 300 */
  LOCKOUT_BASE_SECONDS: int(1, 86_400).default(300),
  /** Failed logins in total (NIST SP 800-63B: at most 100) after which only the unlock link or a reset opens the account. @default 100 */
  LOCKOUT_MAX_FAILURES: int(2, 100).default(100),
  /** JWK set (JSON) of ES256 private keys; the first signs, all verify. */
  JWT_PRIVATE_KEYS: z.string().min(2).optional(),
  /** @default 900 */
  ACCESS_TOKEN_TTL: int(30, 86_400).default(900),
  /** @default 2592000 (30 days) */
  REFRESH_TOKEN_TTL: int(60, 31_536_000).default(2_592_000),
  /** A session unused for this long is dead even if its absolute lifetime remains. @default 1209600 (14 days) */
  SESSION_IDLE_TTL: int(60, 31_536_000).default(1_209_600),
  /**
   * A refresh token presented again within this many seconds of its rotation, while its successor is
   * unused, gets that same successor back (a retry after a lost response) instead of counting as reuse.
   * @default 0 (every second presentation is reuse)
   */
  REFRESH_REUSE_GRACE_SECONDS: int(0, 300).default(0),
  /** Master secret: 32+ bytes. */
  APP_SECRET: z.string().optional(),
  /** Earlier master secrets, newest first, comma-separated: they only open and verify what they made (rotation). */
  APP_SECRET_PREVIOUS: list.optional(),
  /** @default 12 */
  BCRYPT_COST: int(4, 15).default(12),
  /** Sensitive operations need a sign-in or reauthenticate this recent (seconds). @default 600 */
  REAUTH_MAX_AGE_SECONDS: int(30, 86_400).default(600),
  /** @default 8 */
  PASSWORD_MIN_LENGTH: int(8, 128).default(8),
  CORS_ORIGINS: list.optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** Proxies whose X-Forwarded-For is honoured: `true`, or a comma-separated list of IPs/CIDRs (see parseTrustProxy). */
  TRUST_PROXY: z.string().min(1).optional(),
  /** @default info */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where development data lives (embedded PostgreSQL, dev keys, dev secret). @default .data */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Largest accepted request body in bytes. @default 1048576 */
  BODY_LIMIT: int(1024, 50 * 1024 * 1024).default(1024 * 1024),
  /** Expose GraphiQL and introspection (off in production whatever this says). @default true outside production */
  GRAPHIQL: bool.optional(),
  /** Serve the account console at `/account` (`off` when another frontend at APP_URL serves the emailed links). @default on */
  ACCOUNT_CONSOLE: z.enum(['on', 'off']).default('on'),
  /** First webhook retry delay; it doubles each attempt. @default 5000 */
  WEBHOOK_RETRY_DELAY_MS: int(10, 3_600_000).default(5_000),
  /** Delivery attempts of one webhook message before it is marked failed. @default 8 */
  WEBHOOK_MAX_ATTEMPTS: int(1, 50).default(8),
  /** Deliver webhooks to loopback, private, link-local and metadata addresses. @default true in development only */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool.optional(),
  /** An endpoint whose every delivery has failed for this many days is disabled (audited). @default 5 */
  WEBHOOK_DISABLE_AFTER_DAYS: int(0, 365).default(5),
  /** Days an audit entry is kept; the hourly maintenance job removes older ones (and their seals). @default 365 */
  AUDIT_RETENTION_DAYS: int(1, 36_500).default(365),
  /** Serve `/metrics` on its own listener (and no longer on PORT). Unset: on PORT. */
  METRICS_PORT: int(0, 65535).optional(),
  /** Interface of the metrics listener. @default HOST */
  METRICS_HOST: z.string().min(1).optional(),
  /** Require `Authorization: Bearer <token>` on `/metrics`. Unset: no token asked. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(512).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
});

export type Env = z.infer<typeof envSchema>;
