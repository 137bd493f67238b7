import type { SecurityEventType } from '../../infra/db/enums.js';
import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { securityEventsRoutes } from './security-events.routes.js';
import { SecurityEventsResolver } from './security-events.resolver.js';
import type { SecurityEventsService } from './security-events.service.js';

declare module '../../infra/pubsub.js' {
  interface Topics {
    /** A stored security event, scoped by its user, pushed to that user's live subscriptions. Payload: the row as JSON. */
    securityEvent: { id: string; type: SecurityEventType; occurredAt: string; sessionId: string | null; ip: string | null; userAgent: string | null; readAt: string | null };
  }
}

/** Each account's security events: the log, and the subscription that pushes them as they happen. */
export const securityEventsModule: Feature<{ securityEvents: SecurityEventsService; auth: AuthGuard }> = {
  name: 'security-events',
  resolvers: [resolver(SecurityEventsResolver, (w) => new SecurityEventsResolver(w.securityEvents, w.auth))],
  routes: (w) => [securityEventsRoutes(w.securityEvents, w.auth)],
  topics: ['securityEvent'],
};
