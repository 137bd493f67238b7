import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { AuditTopicPayload } from './audit-entry.js';
import { AuditResolver } from './audit.resolver.js';
import { auditAdminRoutes } from './audit.routes.js';
import type { AuditService } from './audit.service.js';

declare module '../../infra/pubsub.js' {
  interface Topics {
    /** A sealed audit entry, for every SUPPORT and ADMIN subscriber (scope id: `all`). */
    auditEvent: AuditTopicPayload;
  }
}

/** The audit log for operators: the query, the live feed and the NDJSON export (sealing runs in every process). */
export const auditModule: Feature<{ audit: AuditService; auth: AuthGuard }> = {
  name: 'audit',
  resolvers: [resolver(AuditResolver, (w) => new AuditResolver(w.audit, w.auth))],
  adminRoutes: (w) => [auditAdminRoutes(w.audit, w.auth)],
  topics: ['auditEvent'],
};
