import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Field names that may carry a credential anywhere in a logged object. */
const SECRET_KEYS = [
  'password',
  'newPassword',
  'currentPassword',
  'passwordHash',
  'token',
  'accessToken',
  'refreshToken',
  'mfaToken',
  'secret',
  'apiKey',
  'authorization',
  'cookie',
  'set-cookie',
  'appSecret',
  'appSecretPrevious',
  'jwtPrivateKeys',
  'privateKey',
];

// pino's redaction matches fixed paths, so list each secret at the depths objects reach in practice.
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...SECRET_KEYS.flatMap((k) => {
    const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
    const dot = key.startsWith('[') ? '' : '.';
    return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
  }),
];

/** Query parameters that carry credentials (verification and reset links): never logged. */
const SECRET_QUERY = /([?&](?:token|code|refresh_?token|access_?token|mfa_?token)=)[^&#]*/gi;

/** A URL as logged: path and harmless parameters kept, credential values replaced. */
export const redactUrlSecrets = (url: string): string => url.replace(SECRET_QUERY, '$1[redacted]');

interface LoggedRequest {
  method?: string;
  url?: string;
  hostname?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer, minus credentials in the query string. */
function serializeRequest(req: LoggedRequest) {
  return { method: req.method, url: req.url ? redactUrlSecrets(req.url) : undefined, host: req.hostname, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export interface LoggerOptions {
  level: string;
  /** Where lines go; tests capture them to prove that no secret is logged. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
  /**
   * Human-readable lines (pino-pretty, in process) instead of JSON: for a developer's terminal. Ignored
   * when pino-pretty is not installed (a production install), which keeps JSON.
   */
  pretty?: boolean;
}

/** Pretty lines when a developer watches the process itself; JSON for anything that collects logs. */
export const wantsPrettyLogs = (env: string, stdout: { isTTY?: boolean } = process.stdout): boolean =>
  env === 'development' && stdout.isTTY === true;

type PrettyFactory = typeof import('pino-pretty');

/** pino-pretty is a development dependency: absent from production images, where JSON is what we want. */
function prettyStream(destination: DestinationStream | number): DestinationStream | undefined {
  let build: PrettyFactory;
  try {
    build = createRequire(import.meta.url)('pino-pretty') as PrettyFactory;
  } catch {
    return undefined;
  }
  // Synchronous, in process: a developer's lines stay in order with anything else written to the terminal.
  return build({ destination, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

export function createLogger({ level, destination, base, pretty }: LoggerOptions): Logger {
  const to = (pretty ? prettyStream(destination ?? 1) : undefined) ?? destination;
  return pino(
    {
      level,
      base: { service: 'latchkey', ...base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause, req: serializeRequest },
    },
    to,
  );
}
