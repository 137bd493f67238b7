import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { auditExportSchema } from './audit.schema.js';
import type { AuditService } from './audit.service.js';

/** REST door for operators (mounted under /v1/admin): the audit log as NDJSON, for SIEMs. */
export function auditAdminRoutes(audit: AuditService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/audit-log', { preHandler: auth.requireRoleHook('SUPPORT'), config: { api: EXPORT_API } }, async (req, reply) => {
      const lines = audit.exportLines(req.query);
      return reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(Readable.from(lines));
    });
  };
}

const EXPORT_API: ApiDoc = {
  summary: 'The audit log as NDJSON, oldest first, streamed (SUPPORT)',
  tags: ['admin'],
  security: 'bearer',
  query: auditExportSchema,
  responses: { 200: { description: 'One JSON object per entry and line (docs/audit.md)', mediaType: 'application/x-ndjson', schema: z.string() } },
  errors: ['BAD_USER_INPUT', 'FORBIDDEN'],
};
