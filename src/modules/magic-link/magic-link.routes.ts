import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { httpExchange } from '../../http/exchange.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import { authPayloadJsonSchema, mfaRequiredJsonSchema, sessionModeHeadersSchema } from '../sessions/sessions.schema.js';
import { magicLinkRequestLimit } from './magic-link.limits.js';
import { magicLinkRequestSchema } from './magic-link.schema.js';
import type { MagicLinkService } from './magic-link.service.js';

/**
 * REST door of magic links. Only POST: the emailed link opens a page of the app (APP_URL/magic-link)
 * whose button posts the token here, so a mail scanner following the link signs nobody in.
 */
export function magicLinkRoutes(magicLink: MagicLinkService, cookies: SessionCookies, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    app.post('/magic-link/request', { preHandler: rateLimited(limits, magicLinkRequestLimit), config: { api: API.request } }, async (req, reply) => {
      await magicLink.request(req.body, requestMeta(req));
      return reply.code(202).send();
    });
    // Answers like /login: an MFA challenge passes through.
    app.post('/magic-link/sign-in', { config: { api: API.signIn } }, async (req, reply) => cookies.json(httpExchange(req, reply), () => magicLink.signIn(req.body, requestMeta(req))));
  };
}

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  request: {
    summary: 'Email a sign-in link; the same answer whether or not the address is known',
    tags: ['sign-in'],
    security: 'none',
    body: magicLinkRequestSchema,
    responses: { 202: { description: 'Accepted (GraphQL twin: requestMagicLink)' } },
    errors: ['BAD_USER_INPUT'],
  },
  signIn: {
    summary: 'Sign in with the token of the magic-link email; answers like POST /login',
    tags: ['sign-in'],
    security: 'none',
    headers: sessionModeHeadersSchema,
    body: tokenSchema,
    responses: { 200: { description: 'Signed in, or the second step is needed (GraphQL twin: signInWithMagicLink)', schema: z.union([authPayloadJsonSchema, mfaRequiredJsonSchema]) } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'ACCOUNT_DISABLED'],
  },
} as const satisfies Record<string, ApiDoc>;
