import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { AuditService } from './audit.service.js';

/** REST door for operators (mounted under /v1/admin): the audit log as NDJSON, for SIEMs. */
export function auditAdminRoutes(audit: AuditService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/audit-log', { preHandler: auth.requireRoleHook('SUPPORT') }, async (req, reply) => {
      const lines = audit.exportLines(req.query);
      return reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(Readable.from(lines));
    });
  };
}
