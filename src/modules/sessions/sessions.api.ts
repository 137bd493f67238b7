import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { authPayloadJsonSchema, logoutSchema, refreshBodySchema, revokedCountSchema, sessionIdSchema, sessionJsonSchema, sessionModeHeadersSchema } from './sessions.schema.js';

/** OpenAPI declarations of the sessions module's REST routes (src/http/openapi.ts). */
export const SESSIONS_API = {
  refresh: {
    summary: 'Trade a refresh token (single use) for a new pair; in cookie mode the session cookie carries it',
    tags: ['sessions'],
    security: 'none',
    body: refreshBodySchema,
    bodyRequired: false,
    headers: sessionModeHeadersSchema,
    responses: { 200: { description: 'A new pair; the old refresh token is spent', schema: authPayloadJsonSchema } },
    errors: ['BAD_USER_INPUT', 'UNAUTHENTICATED', 'REFRESH_TOKEN_REUSED', 'CSRF_CHECK_FAILED'],
  },
  logout: {
    summary: 'End this session, or every session with allSessions (in cookie mode, the session of the cookie, which is cleared)',
    tags: ['sessions'],
    security: 'bearer',
    body: logoutSchema,
    bodyRequired: false,
    headers: sessionModeHeadersSchema,
    responses: { 204: { description: 'Signed out' } },
    errors: ['BAD_USER_INPUT', 'UNAUTHENTICATED', 'CSRF_CHECK_FAILED'],
  },
  list: {
    summary: "The caller's live sessions, most recently used first",
    tags: ['sessions'],
    security: 'bearer',
    responses: { 200: { description: 'GraphQL twin: sessions', schema: z.object({ sessions: z.array(sessionJsonSchema) }) } },
  },
  revokeOne: {
    summary: "End one of the caller's sessions (its sockets close on every instance)",
    tags: ['sessions'],
    security: 'bearer',
    params: sessionIdSchema,
    responses: { 204: { description: 'Ended (GraphQL twin: revokeSession)' } },
    errors: ['BAD_USER_INPUT', 'NOT_FOUND'],
  },
  revokeOthers: {
    summary: 'End every session of the caller but this one',
    tags: ['sessions'],
    security: 'bearer',
    responses: { 200: { description: 'How many ended (GraphQL twin: revokeOtherSessions)', schema: revokedCountSchema } },
  },
} as const satisfies Record<string, ApiDoc>;
