import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { passkeyChangedTemplate } from './passkey-changed.template.js';
import { passkeyChallengeLimit, passkeyLoginLimit } from './passkeys.limits.js';
import { PasskeysResolver } from './passkeys.resolver.js';
import { passkeysRoutes } from './passkeys.routes.js';
import type { PasskeysService } from './passkeys.service.js';

/** Passkeys (WebAuthn): registration, the owner's list and removals, sign-in with or without a name. */
export const passkeysModule: Feature<{ passkeys: PasskeysService; auth: AuthGuard; sessionCookies: SessionCookies }> = {
  name: 'passkeys',
  resolvers: [resolver(PasskeysResolver, (w) => new PasskeysResolver(w.passkeys, w.auth, w.sessionCookies))],
  routes: (w) => [passkeysRoutes(w.passkeys, w.auth, w.sessionCookies)],
  limits: { passkeyChallenge: passkeyChallengeLimit, passkeyLogin: passkeyLoginLimit },
  templates: [passkeyChangedTemplate],
};
