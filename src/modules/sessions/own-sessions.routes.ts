import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthGuard } from './auth.guard.js';
import { SESSIONS_API } from './sessions.api.js';
import { Session } from './sessions.inputs.js';
import { sessionIdSchema } from './sessions.schema.js';
import type { SessionsService } from './sessions.service.js';

type ById = { Params: { id: string } };

/** REST door of the caller's own sessions (`sessions`, `revokeSession`, `revokeOtherSessions`), over the same service as GraphQL. */
export function ownSessionsRoutes(sessions: SessionsService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/sessions', { config: { api: SESSIONS_API.list } }, async (req) => {
      const principal = await auth.request(req);
      return { sessions: (await sessions.list(principal.userId)).map((s) => Session.from(s, principal.sessionId)) };
    });
    app.delete<ById>('/sessions/:id', { config: { api: SESSIONS_API.revokeOne } }, async (req, reply) => {
      const principal = await auth.request(req);
      const { id } = parseInput(sessionIdSchema, req.params);
      if (!(await sessions.revokeOne(principal, id, requestMeta(req)))) throw new AppError('NOT_FOUND', 'You have no live session with this id');
      return reply.code(204).send();
    });
    app.post('/sessions/revoke-others', { config: { api: SESSIONS_API.revokeOthers } }, async (req) => ({
      revoked: await sessions.revokeOthers(await auth.request(req), requestMeta(req)),
    }));
  };
}
