import proxyAddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/**
 * The one parse of the environment (CONTRACT.md §1). Only `main.ts`, `worker.ts` and the CLI scripts
 * read `process.env`; everything else receives the frozen `Config`.
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
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** @default 4000 */
  PORT: int(0, 65535).default(4000),
  /** @default 127.0.0.1 outside production (GraphiQL and /dev/mail stay on this machine), 0.0.0.0 in production */
  HOST: z.string().min(1).optional(),
  /** Base URL used in emails and as the JWT `iss`. @default http://localhost:$PORT */
  PUBLIC_URL: url.optional(),
  /** Frontend base URL for links such as password reset. @default PUBLIC_URL */
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
  /** Every other operation (each GraphQL root field, each REST call) per IP. @default 1200/60 */
  RATE_LIMIT_GENERAL: limitRule.prefault('1200/60'),
  /** Per-IP limits count an IPv6 client by its network of this many bits (one host usually owns a /64). @default 64 */
  RATE_LIMIT_IPV6_PREFIX: int(32, 128).default(64),
  /** The issuer shown by authenticator apps for TOTP. @default Latchkey */
  MFA_ISSUER: z.string().min(1).max(64).default('Latchkey'),
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
  /** Serve `/metrics` on its own listener (and no longer on PORT). Unset: on PORT. */
  METRICS_PORT: int(0, 65535).optional(),
  /** Interface of the metrics listener. @default HOST */
  METRICS_HOST: z.string().min(1).optional(),
  /** Require `Authorization: Bearer <token>` on `/metrics`. Unset: no token asked. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(512).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
});

type Env = z.infer<typeof envSchema>;

/** `false`: X-Forwarded-For is ignored; `true`: every hop is trusted; else the proxies' IPs/CIDRs (proxy-addr syntax). */
export type TrustProxy = boolean | readonly string[];

/** Every named rate limit (CONTRACT.md §6 and the abuse issue). */
export type LimitName = 'login' | 'loginIp' | 'register' | 'resetRequest' | 'verifyResend' | 'refresh' | 'mfa' | 'general' | 'reauth';

export interface Config {
  readonly env: Env['NODE_ENV'];
  readonly isProduction: boolean;
  readonly http: {
    readonly port: number;
    readonly host: string;
    readonly publicUrl: string;
    readonly appUrl: string;
    /** `'localhost'` admits any localhost origin (development default). */
    readonly corsOrigins: readonly string[] | 'localhost';
    readonly trustProxy: TrustProxy;
    readonly tls?: { readonly certFile: string; readonly keyFile: string };
    readonly bodyLimit: number;
    readonly graphiql: boolean;
  };
  readonly db: { readonly url?: string };
  readonly redis: { readonly url: string; readonly keyPrefix: string };
  readonly mail: {
    readonly resendApiKey?: string;
    readonly resendBaseUrl?: string;
    readonly from: string;
    readonly maxAttempts: number;
    readonly retryDelayMs: number;
  };
  readonly jobs: { readonly outboxPollMs: number; readonly lockMs: number };
  /** `null`: that limit is off (benchmarks only; never in production). */
  readonly limits: Readonly<Record<LimitName, { readonly points: number; readonly windowSeconds: number } | null>>;
  readonly lockout: { readonly threshold: number; readonly windowSeconds: number; readonly baseSeconds: number; readonly maxFailures: number };
  readonly auth: {
    readonly accessTokenTtl: number;
    readonly refreshTokenTtl: number;
    readonly sessionIdleTtl: number;
    readonly bcryptCost: number;
    readonly passwordMinLength: number;
    /** Seconds a sign-in or reauthenticate counts as recent for sensitive operations. */
    readonly reauthMaxAge: number;
  };
  readonly secrets: { readonly jwtPrivateKeys?: string; readonly appSecret?: string; readonly appSecretPrevious: readonly string[] };
  readonly log: { readonly level: Env['LOG_LEVEL'] };
  readonly dataDir: string;
  readonly mfaIssuer: string;
  /** Where `/metrics` is served: on PORT unless `port` is set; a bearer token when `token` is set. */
  readonly metrics: { readonly port?: number; readonly host: string; readonly token?: string };
  /** Per-IP limits key an IPv6 client by this prefix length (IPv4 by its address). */
  readonly rateLimitIpv6Prefix: number;
}

const HINTS: Record<string, string> = {
  PORT: 'a port number, e.g. 4000',
  PUBLIC_URL: 'an absolute http(s) URL such as https://auth.example.com',
  APP_URL: 'an absolute http(s) URL such as https://app.example.com',
  DATABASE_URL: 'a postgres:// URL, e.g. postgres://user:pass@host:5432/latchkey',
  REDIS_URL: 'a redis:// URL, e.g. redis://127.0.0.1:6379',
  JWT_PRIVATE_KEYS: 'a JWK set of ES256 private keys; generate one with `npm run keys:generate`',
  APP_SECRET: 'at least 32 bytes; generate one with `openssl rand -base64 48`',
  APP_SECRET_PREVIOUS: 'the secrets APP_SECRET replaced, newest first, comma-separated, each at least 32 bytes',
  BCRYPT_COST: 'an integer from 10 to 15 in production (4+ in tests)',
  ACCESS_TOKEN_TTL: 'seconds, 30 to 86400',
  REFRESH_TOKEN_TTL: 'seconds, 60 to 31536000',
  TRUST_PROXY: '`true`, `false`, or a comma-separated list of proxy IPs/CIDRs, e.g. 10.0.0.0/8,172.16.0.0/12',
  METRICS_PORT: 'a port number other than PORT, e.g. 9464',
  METRICS_TOKEN: 'a random string; generate one with `openssl rand -hex 32`',
  RESEND_API_KEY: 'a Resend API key (re_...) so mail is delivered',
};

export class ConfigError extends Error {
  constructor(readonly issues: { key: string; problem: string }[]) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.key}: ${i.problem}${HINTS[i.key] ? ` (expected ${HINTS[i.key]})` : ''}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

const PROXY_ADDR_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One TRUST_PROXY entry: an IPv4 in dotted quads or an IPv6, optionally `/bits` (or `/netmask`), or a proxy-addr name. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_ADDR_NAMES.has(entry)) return true;
  const address = entry.split('/')[0] ?? '';
  // ipaddr.js also reads `2` or `127.1` as IPv4 (0.0.0.2, 127.0.0.1): a typo or a hop count, never meant.
  if (!ipaddr.IPv4.isValidFourPartDecimal(address) && !ipaddr.IPv6.isValid(address)) return false;
  try {
    proxyAddr.compile(entry);
    return true;
  } catch {
    return false;
  }
}

/**
 * TRUST_PROXY as Fastify takes it. A bare hop count is refused: Fastify (proxy-addr) ignores one, since
 * "trust the first n hops" cannot tell the proxy from a client that reaches the port directly and sends
 * its own X-Forwarded-For; the proxies must be named by address. Each entry is also compiled by
 * proxy-addr, so what starts is exactly what Fastify trusts, and a typo stops the start with a message
 * instead of a stack.
 */
export function parseTrustProxy(raw: string | undefined): { value: TrustProxy } | { problem: string } {
  if (raw === undefined || raw === 'false') return { value: false };
  if (raw === 'true') return { value: true };
  if (/^\d+$/.test(raw)) {
    return { problem: 'a hop count cannot tell the proxy from a client that bypasses it (Fastify ignores it); name the proxies by IP or CIDR' };
  }
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.filter((entry) => !isProxyEntry(entry));
  if (entries.length === 0 || bad.length > 0) {
    return { problem: `not an IP, a CIDR, \`true\` or \`false\`: ${(bad.length > 0 ? bad : [raw]).map((b) => JSON.stringify(b.slice(0, 64))).join(', ')}` };
  }
  return { value: entries };
}

/** Parses the environment once; throws a `ConfigError` naming every bad key at once. */
export function loadConfig(source: NodeJS.ProcessEnv): Config {
  // Empty strings mean "unset": compose files and shells commonly export `VAR=`.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  const issues: { key: string; problem: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ key: String(issue.path[0] ?? '(env)'), problem: issue.message });
    }
    throw new ConfigError(issues);
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';

  if (e.APP_SECRET !== undefined && Buffer.byteLength(e.APP_SECRET) < 32) {
    issues.push({ key: 'APP_SECRET', problem: 'is shorter than 32 bytes' });
  }
  const previous = e.APP_SECRET_PREVIOUS ?? [];
  if (previous.some((s) => Buffer.byteLength(s) < 32)) issues.push({ key: 'APP_SECRET_PREVIOUS', problem: 'lists a secret shorter than 32 bytes' });
  if (new Set(previous).size !== previous.length || (e.APP_SECRET !== undefined && previous.includes(e.APP_SECRET))) {
    issues.push({ key: 'APP_SECRET_PREVIOUS', problem: 'lists a secret twice, or APP_SECRET itself' });
  }
  if (e.JWT_PRIVATE_KEYS !== undefined && !isJsonObject(e.JWT_PRIVATE_KEYS)) {
    issues.push({ key: 'JWT_PRIVATE_KEYS', problem: 'is not valid JSON' });
  }
  const trustProxy = parseTrustProxy(e.TRUST_PROXY);
  if ('problem' in trustProxy) issues.push({ key: 'TRUST_PROXY', problem: trustProxy.problem });
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    issues.push({ key: e.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', problem: 'TLS needs both TLS_CERT_FILE and TLS_KEY_FILE' });
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    issues.push({ key: 'METRICS_PORT', problem: 'is the same as PORT (unset it to serve /metrics on PORT)' });
  }
  if (isProduction) {
    if (!e.JWT_PRIVATE_KEYS) issues.push({ key: 'JWT_PRIVATE_KEYS', problem: 'is required in production' });
    if (!e.APP_SECRET) issues.push({ key: 'APP_SECRET', problem: 'is required in production' });
    if (!e.DATABASE_URL) issues.push({ key: 'DATABASE_URL', problem: 'is required in production (the embedded database is for development)' });
    if (e.BCRYPT_COST < 10) issues.push({ key: 'BCRYPT_COST', problem: 'must be at least 10 in production' });
    // Without a provider, mail (live reset links included) would only reach the development outbox.
    if (!e.RESEND_API_KEY) issues.push({ key: 'RESEND_API_KEY', problem: 'is required in production (the dev outbox is for development)' });
    for (const [key, value] of Object.entries(e)) {
      if (key.startsWith('RATE_LIMIT_') && value === null) issues.push({ key, problem: 'cannot be `off` in production' });
    }
  }
  if (issues.length > 0 || 'problem' in trustProxy) throw new ConfigError(issues); // (the second test narrows the type)

  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;
  const host = e.HOST ?? (isProduction ? '0.0.0.0' : '127.0.0.1');
  const config: Config = {
    env: e.NODE_ENV,
    isProduction,
    http: {
      port: e.PORT,
      // Outside production the server also serves GraphiQL and /dev/mail (every reset link): this
      // machine only, unless HOST says otherwise. Containers set HOST=0.0.0.0 themselves.
      host,
      publicUrl,
      appUrl: e.APP_URL ?? publicUrl,
      corsOrigins: e.CORS_ORIGINS ?? (isProduction ? [] : 'localhost'),
      trustProxy: trustProxy.value,
      ...(e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { tls: { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } } : {}),
      bodyLimit: e.BODY_LIMIT,
      graphiql: !isProduction && (e.GRAPHIQL ?? true),
    },
    db: { url: e.DATABASE_URL },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    mail: {
      resendApiKey: e.RESEND_API_KEY,
      resendBaseUrl: e.RESEND_BASE_URL,
      from: e.EMAIL_FROM,
      maxAttempts: e.EMAIL_MAX_ATTEMPTS,
      retryDelayMs: e.EMAIL_RETRY_DELAY_MS,
    },
    jobs: { outboxPollMs: e.OUTBOX_POLL_MS, lockMs: e.JOB_LOCK_MS },
    limits: {
      login: e.RATE_LIMIT_LOGIN,
      loginIp: e.RATE_LIMIT_LOGIN_IP,
      register: e.RATE_LIMIT_REGISTER,
      resetRequest: e.RATE_LIMIT_RESET_REQUEST,
      verifyResend: e.RATE_LIMIT_VERIFY_RESEND,
      refresh: e.RATE_LIMIT_REFRESH,
      mfa: e.RATE_LIMIT_MFA,
      general: e.RATE_LIMIT_GENERAL,
      reauth: e.RATE_LIMIT_REAUTH,
    },
    lockout: { threshold: e.LOCKOUT_THRESHOLD, windowSeconds: e.LOCKOUT_WINDOW, baseSeconds: e.LOCKOUT_BASE_SECONDS, maxFailures: e.LOCKOUT_MAX_FAILURES },
    auth: {
      accessTokenTtl: e.ACCESS_TOKEN_TTL,
      refreshTokenTtl: e.REFRESH_TOKEN_TTL,
      sessionIdleTtl: e.SESSION_IDLE_TTL,
      bcryptCost: e.BCRYPT_COST,
      passwordMinLength: e.PASSWORD_MIN_LENGTH,
      reauthMaxAge: e.REAUTH_MAX_AGE_SECONDS,
    },
    secrets: { jwtPrivateKeys: e.JWT_PRIVATE_KEYS, appSecret: e.APP_SECRET, appSecretPrevious: previous },
    log: { level: e.LOG_LEVEL },
    dataDir: e.DATA_DIR,
    mfaIssuer: e.MFA_ISSUER,
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST ?? host, token: e.METRICS_TOKEN },
    rateLimitIpv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
  };
  return deepFreeze(config);
}

function isJsonObject(raw: string): boolean {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
