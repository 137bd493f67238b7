import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { Session } from '../sessions/sessions.inputs.js';
import { ADMIN_API } from './admin.api.js';
import { adminUserJson } from './admin.inputs.js';
import { disableBodySchema, listUsersQuerySchema, setRoleBodySchema } from './admin.schema.js';
import type { AdminService } from './admin.service.js';

type ById = { Params: { id: string } };

/**
 * REST door of the admin API (mounted under `/v1/admin`), over the same service as GraphQL: a bearer token of a
 * SUPPORT or ADMIN account (the service checks the role each operation needs), problem+json errors.
 */
export function adminRoutes(admin: AdminService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    await app.register(
      async (scope) => {
        scope.addHook('preHandler', auth.requireRoleHook('SUPPORT'));
        // What these answer names people: no cache, shared or private, may keep it.
        scope.addHook('onSend', async (_req, reply) => {
          reply.header('cache-control', 'no-store');
        });

        scope.get('/users', { config: { api: ADMIN_API.users } }, async (req) => {
          const { query, role, disabled, first, after } = parseInput(listUsersQuerySchema, req.query ?? {});
          const input = { first: first ?? 20, ...defined({ query, role, disabled, after }) };
          const page = await admin.users(await auth.request(req), input, requestMeta(req));
          return {
            users: page.edges.map((e) => adminUserJson(e.node)),
            pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
            totalCount: page.totalCount,
          };
        });
        scope.get<ById>('/users/:id', { config: { api: ADMIN_API.user } }, async (req) => {
          const user = await admin.user(await auth.request(req), req.params.id, requestMeta(req));
          if (!user) throw new AppError('NOT_FOUND', 'No account has this id');
          return adminUserJson(user);
        });
        scope.get<ById>('/users/:id/sessions', { config: { api: ADMIN_API.userSessions } }, async (req) => {
          const caller = await auth.request(req);
          return { sessions: (await admin.userSessions(caller, req.params.id, requestMeta(req))).map((s) => Session.from(s, caller.sessionId)) };
        });
        scope.post<ById>('/users/:id/disable', { config: { api: ADMIN_API.disable } }, async (req) => {
          const { reason } = parseInput(disableBodySchema, req.body ?? {});
          return adminUserJson(await admin.disableUser(await auth.request(req), { id: req.params.id, ...defined({ reason }) }, requestMeta(req)));
        });
        scope.post<ById>('/users/:id/enable', { config: { api: ADMIN_API.enable } }, async (req) =>
          adminUserJson(await admin.enableUser(await auth.request(req), req.params.id, requestMeta(req))),
        );
        scope.post<ById>('/users/:id/sessions/revoke', { config: { api: ADMIN_API.revokeSessions } }, async (req) => ({
          revoked: await admin.revokeUserSessions(await auth.request(req), req.params.id, requestMeta(req)),
        }));
        scope.post<ById>('/users/:id/reset-mfa', { config: { api: ADMIN_API.resetMfa } }, async (req) =>
          adminUserJson(await admin.resetUserMfa(await auth.request(req), req.params.id, requestMeta(req))),
        );
        scope.post<ById>('/users/:id/unlock', { config: { api: ADMIN_API.unlock } }, async (req) =>
          adminUserJson(await admin.unlockUser(await auth.request(req), req.params.id, requestMeta(req))),
        );
        scope.put<ById>('/users/:id/role', { config: { api: ADMIN_API.setRole } }, async (req) => {
          const { role } = parseInput(setRoleBodySchema, req.body ?? {});
          return adminUserJson(await admin.setUserRole(await auth.request(req), { id: req.params.id, role }, requestMeta(req)));
        });
        scope.delete<ById>('/users/:id', { config: { api: ADMIN_API.deleteUser } }, async (req, reply) => {
          await admin.deleteUser(await auth.request(req), req.params.id, requestMeta(req));
          return reply.code(204).send();
        });
      },
    );
  };
}

const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
