/**
 * The one error family. Codes are public API (docs/api.md, "Error codes"): do not rename them.
 * Services throw only `AppError`; the GraphQL formatter and the REST problem+json writer both read
 * this table, so a new code fails the build until it has a status and a title.
 */
export const ERROR_CODES = [
  'BAD_USER_INPUT',
  'WEAK_PASSWORD',
  'EMAIL_TAKEN',
  'USERNAME_TAKEN',
  'INVALID_CREDENTIALS',
  'UNAUTHENTICATED',
  /** Signed in, but not recently enough for a sensitive operation: call `reauthenticate`, then retry. */
  'REAUTHENTICATION_REQUIRED',
  'FORBIDDEN',
  /**
   * A request that would act with the session cookie lacks `X-Latchkey-Session: cookie`, which no
   * cross-site form can send and no other origin can send without passing CORS: refused as forgery.
   */
  'CSRF_CHECK_FAILED',
  'INVALID_TOKEN',
  'REFRESH_TOKEN_REUSED',
  'RATE_LIMITED',
  'ACCOUNT_LOCKED',
  /** The right credential, but the account may not sign in (an operator disabled it). */
  'ACCOUNT_DISABLED',
  'SERVICE_UNAVAILABLE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

interface CodeInfo {
  readonly status: number;
  readonly title: string;
}

export const ERROR_TABLE = {
  BAD_USER_INPUT: { status: 400, title: 'Invalid input' },
  WEAK_PASSWORD: { status: 400, title: 'Password is too weak' },
  EMAIL_TAKEN: { status: 409, title: 'Email already registered' },
  USERNAME_TAKEN: { status: 409, title: 'Username already taken' },
  INVALID_CREDENTIALS: { status: 401, title: 'Invalid credentials' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  REAUTHENTICATION_REQUIRED: { status: 401, title: 'Recent authentication required' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  CSRF_CHECK_FAILED: { status: 403, title: 'Cross-site request refused' },
  INVALID_TOKEN: { status: 400, title: 'Invalid or expired token' },
  REFRESH_TOKEN_REUSED: { status: 401, title: 'Refresh token reused' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  ACCOUNT_LOCKED: { status: 423, title: 'Account locked' },
  ACCOUNT_DISABLED: { status: 403, title: 'Account disabled' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  INTERNAL_SERVER_ERROR: { status: 500, title: 'Internal server error' },
} as const satisfies Record<ErrorCode, CodeInfo>;

export interface AppErrorOptions {
  /** Field name to message, for `BAD_USER_INPUT` (`extensions.fields`, REST `fields`). */
  fields?: Record<string, string>;
  /** Seconds until a retry may succeed, for `RATE_LIMITED` and `ACCOUNT_LOCKED`. */
  retryAfter?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly fields?: Record<string, string>;
  readonly retryAfter?: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_TABLE[code].title,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    if (options.fields) this.fields = options.fields;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }

  /** The public extension members shared by both doors (never the cause or stack). */
  get publicExtensions(): Record<string, unknown> {
    return {
      code: this.code,
      ...(this.fields ? { fields: this.fields } : {}),
      ...(this.retryAfter !== undefined ? { retryAfter: this.retryAfter } : {}),
    };
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** An `AppError` for infrastructure that did not answer; the cause is logged, never shown. */
export const unavailable = (what: string, cause: unknown): AppError =>
  new AppError('SERVICE_UNAVAILABLE', `${what} is unavailable, try again shortly`, { cause });
