import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import { isAppError } from '../../infra/errors.js';
import { User } from '../identity/identity.inputs.js';
import type { EmailVerificationService } from './verification.service.js';

/**
 * GET /auth/verify-email?token=: the link in the email. A browser (Accept: text/html) is sent on to the
 * app with the outcome (303); an API client gets JSON.
 */
export function verificationRoutes(verification: EmailVerificationService, appUrl: string): FastifyPluginAsync {
  return async (app) => {
    app.get('/verify-email', async (req, reply) => {
      const wantsHtml = (req.headers.accept ?? '').includes('text/html');
      try {
        const user = await verification.verify({ token: (req.query as Record<string, unknown>).token }, requestMeta(req));
        if (wantsHtml) return reply.redirect(`${appUrl}/?emailVerification=success`, 303);
        return { verified: true, user: User.from(user) };
      } catch (err) {
        if (wantsHtml && isAppError(err) && (err.code === 'INVALID_TOKEN' || err.code === 'BAD_USER_INPUT')) {
          return reply.redirect(`${appUrl}/?emailVerification=invalid`, 303);
        }
        throw err;
      }
    });
  };
}
