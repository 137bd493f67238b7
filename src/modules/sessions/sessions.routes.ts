import type { FastifyPluginAsync } from 'fastify';
import { httpExchange } from '../../http/exchange.js';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { SessionCookies } from './session-cookie.guard.js';
import { SESSIONS_API } from './sessions.api.js';
import { refreshLimit } from './sessions.limits.js';
import { logoutSchema, refreshBodySchema, refreshSchema } from './sessions.schema.js';
import type { SessionsService } from './sessions.service.js';

/** REST door of sessions: refresh and logout over the same service as GraphQL, by body token or session cookie. */
export function sessionsRoutes(sessions: SessionsService, cookies: SessionCookies, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    app.post('/refresh', { preHandler: rateLimited(limits, refreshLimit), config: { api: SESSIONS_API.refresh } }, async (req, reply) => {
      const http = httpExchange(req, reply);
      // No token in the body: the cookie (cookie mode only), else the usual BAD_USER_INPUT.
      const token = cookies.presented(parseInput(refreshBodySchema, req.body ?? {}).refreshToken, http) ?? parseInput(refreshSchema, {}).refreshToken;
      return cookies.json(http, () => sessions.refresh(token, requestMeta(req)));
    });
    app.post('/logout', { config: { api: SESSIONS_API.logout } }, async (req, reply) => {
      const { authorization } = req.headers;
      const bearer = { present: authorization !== undefined, principal: () => sessions.authenticate(authorization) };
      await cookies.logout(httpExchange(req, reply), bearer, parseInput(logoutSchema, req.body ?? {}).allSessions, requestMeta(req));
      return reply.code(204).send();
    });
  };
}
