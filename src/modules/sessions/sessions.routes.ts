import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import { SESSIONS_API } from './sessions.api.js';
import { authPayloadJson } from './sessions.inputs.js';
import { refreshLimit } from './sessions.limits.js';
import { logoutSchema, refreshSchema } from './sessions.schema.js';
import type { SessionsService } from './sessions.service.js';

/** REST door of sessions: refresh and logout over the same service as GraphQL. */
export function sessionsRoutes(sessions: SessionsService, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    app.post('/refresh', { preHandler: rateLimited(limits, refreshLimit), config: { api: SESSIONS_API.refresh } }, async (req) => {
      return authPayloadJson(await sessions.refresh(parseInput(refreshSchema, req.body).refreshToken, requestMeta(req)));
    });
    app.post('/logout', { config: { api: SESSIONS_API.logout } }, async (req, reply) => {
      const principal = await sessions.authenticate(req.headers.authorization);
      await sessions.logout(principal, parseInput(logoutSchema, req.body ?? {}).allSessions, requestMeta(req));
      return reply.code(204).send();
    });
  };
}
