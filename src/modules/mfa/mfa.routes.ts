import type { FastifyPluginAsync } from 'fastify';
import { httpExchange } from '../../http/exchange.js';
import { requestMeta } from '../../http/request-meta.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import type { MfaService } from './mfa.service.js';

/** REST door of the login's second step (docs/api.md, "REST routes"): POST /auth/login/mfa. */
export function mfaRoutes(mfa: MfaService, cookies: SessionCookies): FastifyPluginAsync {
  return async (app) => {
    app.post('/login/mfa', async (req, reply) => cookies.json(httpExchange(req, reply), () => mfa.completeLogin(req.body, requestMeta(req))));
  };
}
