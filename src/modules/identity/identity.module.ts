import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { identityRoutes } from './identity.routes.js';
import { IdentityResolver } from './identity.resolver.js';
import type { IdentityService } from './identity.service.js';

/** The accounts themselves: `me`. */
export const identityModule: Feature<{ identity: IdentityService; auth: AuthGuard }> = {
  name: 'identity',
  resolvers: [resolver(IdentityResolver, (w) => new IdentityResolver(w.identity, w.auth))],
  routes: (w) => [identityRoutes(w.identity, w.auth)],
};
