import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { isAppError } from '../infra/errors.js';

const MASKED = { message: 'Something went wrong; the error was logged', extensions: { code: 'INTERNAL_SERVER_ERROR' } };

/** True for errors a client caused and may see: our `AppError`s and GraphQL's own parse/validation errors. */
export function isClientSafe(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (isAppError(original)) return true;
  return original instanceof GraphQLError && original.originalError == null;
}

/**
 * One formatter for HTTP and WebSocket: `AppError` keeps its code and public extensions, GraphQL's own
 * errors keep theirs, anything else is masked (it was logged with its cause by the logging plugin).
 */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (isAppError(original)) {
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions: original.publicExtensions };
  }
  if (isClientSafe(error)) {
    const { stacktrace: _s, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return { ...MASKED, locations: formatted.locations, path: formatted.path };
}
