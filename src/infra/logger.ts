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
}

export function createLogger({ level, destination, base }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { service: 'latchkey', ...base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause, req: serializeRequest },
    },
    destination,
  );
}
