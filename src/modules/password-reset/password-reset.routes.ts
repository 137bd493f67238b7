import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import type { ApiDoc } from '../../http/openapi.js';
import { resetRequestLimit } from './password-reset.limits.js';
import { resetConfirmSchema, resetRequestSchema } from './password-reset.schema.js';
import type { PasswordResetService } from './password-reset.service.js';

/** REST door of password reset over the same service as GraphQL. */
export function passwordResetRoutes(reset: PasswordResetService, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    app.post('/reset-password/request', { preHandler: rateLimited(limits, resetRequestLimit), config: { api: API.request } }, async (req, reply) => {
      await reset.request(req.body, requestMeta(req));
      return reply.code(202).send();
    });
    app.post('/reset-password/confirm', { config: { api: API.confirm } }, async (req, reply) => {
      await reset.confirm(req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  request: {
    summary: 'Email a password-reset link; the same answer whether or not the address is known',
    tags: ['password-reset'],
    security: 'none',
    body: resetRequestSchema,
    responses: { 202: { description: 'Accepted (GraphQL twin: requestPasswordReset)' } },
    errors: ['BAD_USER_INPUT'],
  },
  confirm: {
    summary: 'Set a new password with the token of the reset email; every session ends',
    tags: ['password-reset'],
    security: 'none',
    body: resetConfirmSchema,
    responses: { 204: { description: 'Changed (GraphQL twin: resetPassword)' } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'WEAK_PASSWORD'],
  },
} as const satisfies Record<string, ApiDoc>;
