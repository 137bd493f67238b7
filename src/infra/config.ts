import { envSchema, type Env } from './config-env.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';

/**
 * The one parse of the environment (the variables: config-env.ts). Only `main.ts`, `worker.ts` and the
 * CLI scripts read `process.env`; everything else receives the frozen `Config`.
 */

export type { TrustProxy };

/** Every named rate limit (README "Abuse protection"). */
export type LimitName = 'login' | 'loginIp' | 'register' | 'resetRequest' | 'verifyResend' | 'refresh' | 'mfa' | 'general' | 'reauth' | 'admin' | 'magicLinkRequest' | 'passkeyLogin' | 'passkeyChallenge' | 'introspect';

/** Every limit name once (the compiler checks the list is complete): the values of a metric label. */
export const LIMIT_NAMES = Object.keys({
  login: 0, loginIp: 0, register: 0, resetRequest: 0, verifyResend: 0, refresh: 0, mfa: 0, general: 0, reauth: 0, admin: 0, magicLinkRequest: 0, passkeyLogin: 0, passkeyChallenge: 0, introspect: 0,
} satisfies Record<LimitName, 0>) as readonly LimitName[];

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
    /** Serve the account console at /account (ACCOUNT_CONSOLE). */
    readonly accountConsole: boolean;
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
    /** REFRESH_REUSE_GRACE_SECONDS: how long a rotated refresh token may be retried for the same successor (0: never). */
    readonly refreshReuseGrace: number;
    readonly bcryptCost: number;
    readonly passwordMinLength: number;
    /** Seconds a sign-in or reauthenticate counts as recent for sensitive operations. */
    readonly reauthMaxAge: number;
  };
  readonly secrets: { readonly jwtPrivateKeys?: string; readonly appSecret?: string; readonly appSecretPrevious: readonly string[] };
  readonly log: { readonly level: Env['LOG_LEVEL'] };
  readonly dataDir: string;
  readonly mfaIssuer: string;
  /** Accounts whose verified address is listed hold ADMIN (lower case). */
  readonly adminEmails: readonly string[];
  /** Where `/metrics` is served: on PORT unless `port` is set; a bearer token when `token` is set. */
  readonly metrics: { readonly port?: number; readonly host: string; readonly token?: string };
  /** Per-IP limits key an IPv6 client by this prefix length (IPv4 by its address). */
  readonly rateLimitIpv6Prefix: number;
  /** Thresholds of the built-in security alert rules; `null`: that rule is off. */
  readonly alerts: Readonly<Record<AlertRuleName, AlertThreshold | null>>;
  /** The audit log: how many days an entry is kept. */
  readonly audit: { readonly retentionDays: number };
  /** Passkeys: the relying party (`rpId`, the name shown by authenticators) and the origins ceremonies may come from. */
  readonly webauthn: { readonly rpId: string; readonly rpName: string; readonly origins: readonly string[] };
  /** Webhook deliveries (docs/api.md, "Webhooks"). */
  readonly webhooks: {
    readonly retryDelayMs: number;
    readonly maxAttempts: number;
    /** Whether receivers may sit on loopback, private, link-local or metadata addresses. */
    readonly allowPrivateNetworks: boolean;
    /** An endpoint failing every delivery for this long is disabled. */
    readonly disableAfterMs: number;
  };
}

/** The built-in security alert rules (docs/api.md, "Alerts"): public names, do not rename. */
export const ALERT_RULE_NAMES = ['credential_stuffing', 'signup_burst'] as const;
export type AlertRuleName = (typeof ALERT_RULE_NAMES)[number];

/** At least `threshold` events within `windowSeconds` fire the rule. */
export interface AlertThreshold {
  readonly threshold: number;
  readonly windowSeconds: number;
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
  ALERT_CREDENTIAL_STUFFING: 'count/seconds, e.g. 10/600, or off',
  ALERT_SIGNUP_BURST: 'count/seconds, e.g. 20/600, or off',
  RESEND_API_KEY: 'a Resend API key (re_...) so mail is delivered',
  WEBAUTHN_RP_ID: 'a domain name, the host of every WEBAUTHN_ORIGINS entry or a parent domain of it, e.g. example.com',
  WEBAUTHN_ORIGINS: 'comma-separated origins such as https://app.example.com (scheme, host and port; no path)',
  ADMIN_EMAILS: 'comma-separated email addresses, e.g. ops@example.com,alice@example.com',
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
  const adminEmails = e.ADMIN_EMAILS ?? [];
  if (adminEmails.some((a) => !/^[^\s@]+@[^\s@]+$/.test(a))) issues.push({ key: 'ADMIN_EMAILS', problem: 'lists something that is not an email address' });
  const webauthn = webauthnOf(e.WEBAUTHN_RP_ID, e.WEBAUTHN_ORIGINS, e.APP_URL ?? e.PUBLIC_URL ?? `http://localhost:${e.PORT}`);
  issues.push(...webauthn.issues);
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
      // The built-in console serves every page an emailed link opens.
      appUrl: e.APP_URL ?? `${publicUrl}/account`,
      corsOrigins: e.CORS_ORIGINS ?? (isProduction ? [] : 'localhost'),
      trustProxy: trustProxy.value,
      ...(e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { tls: { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } } : {}),
      bodyLimit: e.BODY_LIMIT,
      graphiql: !isProduction && (e.GRAPHIQL ?? true),
      accountConsole: e.ACCOUNT_CONSOLE === 'on',
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
      admin: e.RATE_LIMIT_ADMIN,
      magicLinkRequest: e.RATE_LIMIT_MAGIC_LINK_REQUEST,
      passkeyLogin: e.RATE_LIMIT_PASSKEY_LOGIN,
      passkeyChallenge: e.RATE_LIMIT_PASSKEY_CHALLENGE,
      introspect: e.RATE_LIMIT_INTROSPECT,
    },
    lockout: { threshold: e.LOCKOUT_THRESHOLD, windowSeconds: e.LOCKOUT_WINDOW, baseSeconds: e.LOCKOUT_BASE_SECONDS, maxFailures: e.LOCKOUT_MAX_FAILURES },
    auth: {
      accessTokenTtl: e.ACCESS_TOKEN_TTL,
      refreshTokenTtl: e.REFRESH_TOKEN_TTL,
      sessionIdleTtl: e.SESSION_IDLE_TTL,
      refreshReuseGrace: e.REFRESH_REUSE_GRACE_SECONDS,
      bcryptCost: e.BCRYPT_COST,
      passwordMinLength: e.PASSWORD_MIN_LENGTH,
      reauthMaxAge: e.REAUTH_MAX_AGE_SECONDS,
    },
    secrets: { jwtPrivateKeys: e.JWT_PRIVATE_KEYS, appSecret: e.APP_SECRET, appSecretPrevious: previous },
    log: { level: e.LOG_LEVEL },
    dataDir: e.DATA_DIR,
    mfaIssuer: e.MFA_ISSUER,
    adminEmails: adminEmails.map((a) => a.toLowerCase()),
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST ?? host, token: e.METRICS_TOKEN },
    rateLimitIpv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
    alerts: { credential_stuffing: e.ALERT_CREDENTIAL_STUFFING, signup_burst: e.ALERT_SIGNUP_BURST },
    audit: { retentionDays: e.AUDIT_RETENTION_DAYS },
    webauthn: { rpId: webauthn.rpId, rpName: e.MFA_ISSUER, origins: webauthn.origins },
    webhooks: {
      retryDelayMs: e.WEBHOOK_RETRY_DELAY_MS,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      // Development talks to receivers on this machine; everywhere else (tests included) it is opted into.
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS ?? e.NODE_ENV === 'development',
      disableAfterMs: e.WEBHOOK_DISABLE_AFTER_DAYS * 86_400_000,
    },
  };
  return deepFreeze(config);
}

/**
 * The relying party of passkeys. Each origin must be an origin (no path), and its host the RP id or a
 * subdomain of it: browsers refuse any other pairing, so a mismatch fails the start, not every ceremony.
 */
function webauthnOf(rpIdSetting: string | undefined, originsSetting: readonly string[] | undefined, appUrl: string) {
  const issues: { key: string; problem: string }[] = [];
  const app = new URL(appUrl);
  const rpId = rpIdSetting ?? app.hostname.replace(/^\[|\]$/g, '');
  const origins: string[] = [];
  for (const raw of originsSetting ?? [app.origin]) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      issues.push({ key: 'WEBAUTHN_ORIGINS', problem: `lists ${JSON.stringify(raw)}, which is not a URL` });
      continue;
    }
    if (!/^https?:$/.test(u.protocol) || u.origin !== raw.replace(/\/+$/, '')) {
      issues.push({ key: 'WEBAUTHN_ORIGINS', problem: `lists ${JSON.stringify(raw)}, which is not an http(s) origin (scheme, host, port only)` });
      continue;
    }
    if (u.hostname !== rpId && !u.hostname.endsWith(`.${rpId}`)) {
      issues.push({ key: rpIdSetting ? 'WEBAUTHN_RP_ID' : 'WEBAUTHN_ORIGINS', problem: `${JSON.stringify(rpId)} is neither the host of ${u.origin} nor a parent domain of it` });
      continue;
    }
    origins.push(u.origin);
  }
  return { rpId, origins, issues };
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
