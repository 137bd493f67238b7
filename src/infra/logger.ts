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

/** pino's redaction, for the fixed paths of objects its serializers produce (cheap: exact paths only). */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  // A PostgreSQL error's `detail` quotes the row's values (`Key (email)=(...) already exists.`), and pg
  // errors reach the log as they are (hot statements go through node-postgres directly), or as a cause.
  'err.detail',
  'err.cause.detail',
  'err.cause.cause.detail',
  ...SECRET_KEYS.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`)),
];

const SECRET = new Set(SECRET_KEYS);
const CENSOR = '[redacted]';
/** How deep below a logged object's own keys a secret is looked for (`a.b.c.token`). */
const SECRET_DEPTH = 3;
/** Top-level keys whose serializer decides what is written (`req`: method, URL without secrets, addresses). */
const SERIALIZED = new Set(['req']);

/**
 * `obj` with every secret-named key, at its own level and up to three levels down (arrays included),
 * replaced by `[redacted]`. The caller's objects are never changed: what holds a secret is copied (keeping
 * its prototype, so an Error stays an Error for its serializer), the rest is shared.
 *
 * This walk replaces pino's wildcard paths (`*.*.*.token`), which pino applies to every top-level key of
 * every line: they cost ~45 µs per line of six keys, a quarter of a whole `{ __typename }` request.
 */
export function redactSecrets<T extends object>(obj: T): T {
  return censorBelow(obj, 0, true) as T;
}

function censorBelow(value: unknown, depth: number, top = false): unknown {
  if (typeof value !== 'object' || value === null) return value;
  // Dates, Buffers and the like are written as their toJSON says, not as their fields.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    if (depth >= SECRET_DEPTH) return value;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const c = censorBelow(v, depth + 1);
      if (c !== v) (copy ??= value.slice())[i] = c;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  const fields = value as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || (top && SERIALIZED.has(key))) continue;
    const v = fields[key];
    let c: unknown;
    if (SECRET.has(key)) c = v === undefined ? v : CENSOR;
    else if (depth < SECRET_DEPTH) c = censorBelow(v, depth + 1);
    else continue;
    if (c === v) continue;
    copy ??= copyOf(fields);
    Object.defineProperty(copy, key, { value: c, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

function copyOf(obj: Record<string, unknown>): Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === Object.prototype || proto === null) return { ...obj };
  return Object.create(proto as object, Object.getOwnPropertyDescriptors(obj)) as Record<string, unknown>;
}

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
  return build({ destination, sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

export function createLogger({ level, destination, base, pretty }: LoggerOptions): Logger {
  const to = (pretty ? prettyStream(destination ?? 1) : undefined) ?? destination;
  const logger = pino(
    {
      level,
      base: { service: 'latchkey', ...base },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Each line's own fields and the base bindings: secrets named anywhere near the top are censored.
      formatters: { level: (label) => ({ level: label }), bindings: redactSecrets, log: redactSecrets },
      serializers: { err: pino.stdSerializers.errWithCause, req: serializeRequest },
    },
    to,
  );
  // pino resets the bindings formatter for children, so a child's bindings are censored here; every
  // descendant inherits this `child` (pino builds a child with Object.create(parent)).
  type ChildOf = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const child = logger.child as unknown as ChildOf;
  logger.child = function (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    return child.call(this, redactSecrets(bindings), options);
  } as unknown as Logger['child'];
  return logger;
}
