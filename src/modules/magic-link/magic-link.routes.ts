import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { httpExchange } from '../../http/exchange.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { magicLinkRequestLimit } from './magic-link.limits.js';
import type { MagicLinkService } from './magic-link.service.js';

/**
 * REST door of magic links. Only POST: the emailed link opens a page of the app (APP_URL/magic-link)
 * whose button posts the token here, so a mail scanner following the link signs nobody in.
 */
export function magicLinkRoutes(magicLink: MagicLinkService, cookies: SessionCookies, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    app.post('/magic-link/request', { preHandler: rateLimited(limits, magicLinkRequestLimit) }, async (req, reply) => {
      await magicLink.request(req.body, requestMeta(req));
      return reply.code(202).send();
    });
    // Answers like /login: an MFA challenge passes through.
    app.post('/magic-link/sign-in', async (req, reply) => cookies.json(httpExchange(req, reply), () => magicLink.signIn(req.body, requestMeta(req))));
  };
}
