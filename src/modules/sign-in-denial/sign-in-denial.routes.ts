import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import type { ApiDoc } from '../../http/openapi.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import type { SignInDenialService } from './sign-in-denial.service.js';

/**
 * REST door of "this wasn't me". Only POST: the emailed link opens a page of the app (APP_URL/deny-sign-in)
 * whose button posts the token here, so a mail scanner following the link ends nothing.
 */
export function signInDenialRoutes(denial: SignInDenialService): FastifyPluginAsync {
  return async (app) => {
    app.post('/deny-sign-in', { config: { api: DENY_API } }, async (req, reply) => {
      await denial.deny(req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}

const DENY_API: ApiDoc = {
  summary: '"This wasn\'t me": end the session a new-sign-in notice named, with its token',
  tags: ['links'],
  security: 'none',
  body: tokenSchema,
  responses: { 204: { description: 'The session ended on every instance (GraphQL twin: denySignIn)' } },
  errors: ['BAD_USER_INPUT', 'INVALID_TOKEN'],
};
