import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { Introspection } from './introspection.js';
import { introspectLimit } from './service-keys.limits.js';
import { ServiceKeysResolver } from './service-keys.resolver.js';
import { introspectionRoutes, serviceKeyAdminRoutes } from './service-keys.routes.js';
import type { ServiceKeysService } from './service-keys.service.js';

/** Service keys (managed by ADMINs) and the token introspection endpoint they open (RFC 7662). */
export const serviceKeysModule: Feature<{ serviceKeys: ServiceKeysService; introspection: Introspection; auth: AuthGuard }> = {
  name: 'service-keys',
  resolvers: [resolver(ServiceKeysResolver, (w) => new ServiceKeysResolver(w.serviceKeys, w.auth))],
  rootRoutes: (w) => [introspectionRoutes(w.serviceKeys, w.introspection)],
  adminRoutes: (w) => [serviceKeyAdminRoutes(w.serviceKeys, w.auth)],
  limits: { introspect: introspectLimit },
};
