import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../infra/db/errors.js';
import { AppError, ERROR_TABLE, isAppError, unavailable, type ErrorCode } from '../infra/errors.js';

/** RFC 9457 problem details; `code` equals the GraphQL `extensions.code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  fields?: Record<string, string>;
  retryAfter?: number;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function problemOf(error: AppError, instance?: string): Problem {
  return {
    type: `urn:latchkey:problem:${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_TABLE[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(error.fields ? { fields: error.fields } : {}),
    ...(error.retryAfter !== undefined ? { retryAfter: error.retryAfter } : {}),
  };
}

export function sendProblem(reply: FastifyReply, error: AppError, instance?: string): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfter))));
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(problemOf(error, instance));
}

const FRAMEWORK_STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'BAD_USER_INPUT',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Turns anything thrown into an `AppError`. Fastify's own client errors (malformed JSON, body too large,
 * wrong content type) keep their meaning; anything else is an internal error whose cause is logged, never sent.
 */
export function toAppError(err: unknown, req: FastifyRequest): AppError {
  if (isAppError(err)) return err;
  const fe = err as Partial<FastifyError>;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  // Any other client error the framework raises (405, 431, ...) is still the client's: never a 500.
  const mapped = status >= 400 && status < 500 ? (FRAMEWORK_STATUS_CODES[status] ?? 'BAD_USER_INPUT') : undefined;
  if (mapped) {
    const message =
      fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError
        ? 'The request body is not valid JSON'
        : mapped === 'PAYLOAD_TOO_LARGE'
          ? 'The request body is too large'
          : mapped === 'UNSUPPORTED_MEDIA_TYPE'
            ? 'Send the body as application/json'
            : mapped === 'BAD_USER_INPUT'
              ? 'The request is malformed'
              : ERROR_TABLE[mapped].title;
    return new AppError(mapped, message);
  }
  if (isDatabaseUnavailable(err)) {
    req.log.warn({ err }, 'database unavailable');
    return unavailable('The database', err);
  }
  req.log.error({ err }, 'unhandled error');
  return new AppError('INTERNAL_SERVER_ERROR', 'Something went wrong; the error was logged');
}
