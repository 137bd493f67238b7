import type { Config } from '../../infra/config.js';
import type { Limits } from '../../infra/rate-limit.js';
import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import type { AccountLock } from './account-lock.js';
import { accountLockedTemplate } from './account-locked.template.js';
import { loginLimit, ownerProofLimit, registerLimit } from './accounts.limits.js';
import { AccountsResolver } from './accounts.resolver.js';
import { accountsRoutes } from './accounts.routes.js';
import type { AccountsService } from './accounts.service.js';
import { newSignInTemplate } from './new-sign-in.template.js';

/** Sign-up, sign-in by password, the owner's proofs, and the account lock with its unlock link. */
export const accountsModule: Feature<{ accounts: AccountsService; lock: AccountLock; auth: AuthGuard; sessionCookies: SessionCookies; limits: Limits; config: Config }> = {
  name: 'accounts',
  resolvers: [resolver(AccountsResolver, (w) => new AccountsResolver(w.accounts, w.lock, w.auth, w.sessionCookies))],
  routes: (w) => [accountsRoutes(w.accounts, w.lock, w.sessionCookies, w.limits, w.config.http.appUrl, w.auth)],
  limits: { login: loginLimit, register: registerLimit, ownerProof: ownerProofLimit },
  templates: [newSignInTemplate, accountLockedTemplate],
};
