import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { accountDeletionRoutes } from './account-deletion.routes.js';
import { AccountDeletionResolver } from './account-deletion.resolver.js';
import type { AccountLifecycle } from './account-lifecycle.js';
import { adminLimit } from './admin.limits.js';
import { AdminResolver } from './admin.resolver.js';
import { adminRoutes } from './admin.routes.js';
import type { AdminService } from './admin.service.js';

/** Operators and the account lifecycle: the admin API (GraphQL and `/v1/admin`), and the owner's `deleteAccount`. */
export const adminModule: Feature<{ admin: AdminService; lifecycle: AccountLifecycle; auth: AuthGuard }> = {
  name: 'admin',
  resolvers: [
    resolver(AdminResolver, (w) => new AdminResolver(w.admin, w.auth)),
    resolver(AccountDeletionResolver, (w) => new AccountDeletionResolver(w.lifecycle, w.auth)),
  ],
  routes: (w) => [accountDeletionRoutes(w.lifecycle, w.auth)],
  adminRoutes: (w) => [adminRoutes(w.admin, w.auth)],
  limits: { admin: adminLimit },
};
