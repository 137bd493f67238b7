import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import type { PasswordResetService } from './password-reset.service.js';

/** REST door of password reset over the same service as GraphQL. */
export function passwordResetRoutes(reset: PasswordResetService): FastifyPluginAsync {
  return async (app) => {
    app.post('/reset-password/request', async (req, reply) => {
      await reset.request(req.body, requestMeta(req));
      return reply.code(202).send();
    });
    app.post('/reset-password/confirm', async (req, reply) => {
      await reset.confirm(req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}
