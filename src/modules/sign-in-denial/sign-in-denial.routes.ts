import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import type { SignInDenialService } from './sign-in-denial.service.js';

/**
 * REST door of "this wasn't me". Only POST: the emailed link opens a page of the app (APP_URL/deny-sign-in)
 * whose button posts the token here, so a mail scanner following the link ends nothing.
 */
export function signInDenialRoutes(denial: SignInDenialService): FastifyPluginAsync {
  return async (app) => {
    app.post('/deny-sign-in', async (req, reply) => {
      await denial.deny(req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}
