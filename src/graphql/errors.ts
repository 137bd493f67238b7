import type { GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailable } from '../infra/db/errors.js';
import { isAppError, unavailable, type AppError } from '../infra/errors.js';

/**
 * Codes GraphQL itself (graphql-js, Apollo, graphql-ws) gives to errors the client caused. Errors are
 * classified by code, not `instanceof GraphQLError`: graphql may be loaded twice (ESM and CJS builds),
 * and a class check across the two would mask a client's mistake as an internal error.
 */
const CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

const MASKED = { message: 'Something went wrong; the error was logged', extensions: { code: 'INTERNAL_SERVER_ERROR' } };

interface ErrorLike {
  originalError?: unknown;
  extensions?: Record<string, unknown>;
}

/** The `AppError` behind a resolver error, however many GraphQL wrappers it went through. */
export function appErrorOf(error: unknown): AppError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (isAppError(current)) return current;
    current = (current as ErrorLike).originalError;
  }
  // An unreachable database is an outage the client may retry, not an internal error.
  return isDatabaseUnavailable(rootCause(error)) ? unavailable('The database', rootCause(error)) : undefined;
}

/** The innermost cause, for logging. */
export function rootCause(error: unknown): unknown {
  let current: unknown = error;
  while ((current as ErrorLike | undefined)?.originalError) current = (current as ErrorLike).originalError;
  return current;
}

/** True for errors a client caused and may see: our `AppError`s and GraphQL's own request errors. */
export function isClientSafe(error: unknown): boolean {
  if (appErrorOf(error)) return true;
  const e = error as ErrorLike;
  const code = e?.extensions?.code;
  return typeof code === 'string' && CLIENT_CODES.has(code) && !(e.originalError && !isGraphQLErrorLike(e.originalError));
}

const isGraphQLErrorLike = (e: unknown) => typeof e === 'object' && e !== null && 'extensions' in e && 'path' in e;

/**
 * One formatter for HTTP and WebSocket: `AppError` keeps its code and public extensions, GraphQL's own
 * request errors keep theirs, anything else is masked (the logging plugin logged it with its cause).
 */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const app = appErrorOf(error);
  if (app) return { message: app.message, locations: formatted.locations, path: formatted.path, extensions: app.publicExtensions };
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && CLIENT_CODES.has(code) && isClientSafe(error)) {
    const { stacktrace: _s, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return { ...MASKED, locations: formatted.locations, path: formatted.path };
}
