import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { mfaChangedTemplate } from './mfa-changed.template.js';
import { mfaCodeFailedTemplate } from './mfa-code-failed.template.js';
import { accountCodeLimit, challengeLimit } from './mfa.limits.js';
import { MfaResolver } from './mfa.resolver.js';
import { mfaRoutes } from './mfa.routes.js';
import type { MfaService } from './mfa.service.js';

/** TOTP with recovery codes: enrollment, the login's second step, disabling. */
export const mfaModule: Feature<{ mfa: MfaService; auth: AuthGuard; sessionCookies: SessionCookies }> = {
  name: 'mfa',
  resolvers: [resolver(MfaResolver, (w) => new MfaResolver(w.mfa, w.auth, w.sessionCookies))],
  routes: (w) => [mfaRoutes(w.mfa, w.sessionCookies, w.auth)],
  limits: { challenge: challengeLimit, accountCodes: accountCodeLimit },
  templates: [mfaChangedTemplate, mfaCodeFailedTemplate],
};
