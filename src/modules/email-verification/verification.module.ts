import type { Config } from '../../infra/config.js';
import { resolver, type Feature } from '../feature.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { resendLimit } from './verification.limits.js';
import { EmailVerificationResolver } from './verification.resolver.js';
import { verificationRoutes } from './verification.routes.js';
import type { EmailVerificationService } from './verification.service.js';
import { verifyEmailTemplate } from './verify-email.template.js';

/** The link that verifies an address, sent at sign-up and on request. */
export const emailVerificationModule: Feature<{ verification: EmailVerificationService; auth: AuthGuard; config: Config }> = {
  name: 'email-verification',
  resolvers: [resolver(EmailVerificationResolver, (w) => new EmailVerificationResolver(w.verification, w.auth))],
  routes: (w) => [verificationRoutes(w.verification, w.config.http.appUrl, w.auth)],
  limits: { resend: resendLimit },
  templates: [verifyEmailTemplate],
};
