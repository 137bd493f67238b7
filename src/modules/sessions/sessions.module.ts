import type { Limits } from '../../infra/rate-limit.js';
import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from './auth.guard.js';
import type { SessionCookies } from './session-cookie.guard.js';
import { ownSessionsRoutes } from './own-sessions.routes.js';
import { refreshLimit } from './sessions.limits.js';
import { SessionsResolver } from './sessions.resolver.js';
import { sessionsRoutes } from './sessions.routes.js';
import type { SessionsService } from './sessions.service.js';

declare module '../../infra/pubsub.js' {
  interface Topics {
    /** A session ended (logout, revocation, reuse), scoped `all`: every instance closes that session's sockets. */
    sessionEnded: { sessionId: string; reason: string };
  }
}

/** Sessions and their tokens: refresh, logout, listing and revoking. */
export const sessionsModule: Feature<{ sessions: SessionsService; auth: AuthGuard; sessionCookies: SessionCookies; limits: Limits }> = {
  name: 'sessions',
  resolvers: [resolver(SessionsResolver, (w) => new SessionsResolver(w.sessions, w.auth, w.sessionCookies))],
  routes: (w) => [sessionsRoutes(w.sessions, w.sessionCookies, w.limits), ownSessionsRoutes(w.sessions, w.auth)],
  topics: ['sessionEnded'],
  limits: { refresh: refreshLimit },
};
