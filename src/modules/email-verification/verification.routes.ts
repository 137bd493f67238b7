import type { FastifyPluginAsync } from 'fastify';
import { acceptTokenForm, asksForJson, ifInvalidToken, isFormPost, linkPage, sendLinkPage, tokenForm } from '../../http/link-pages.js';
import { requestMeta } from '../../http/request-meta.js';
import { User } from '../identity/identity.inputs.js';
import type { EmailVerificationService } from './verification.service.js';

/**
 * The link in the verification email, GET /auth/verify-email?token=. Only a client that asks for JSON
 * (`Accept: application/json`) verifies with the GET and gets JSON. Anything else (a browser, a mail
 * scanner, a link preview) changes nothing: a usable token gets a page whose one button POSTs it, an
 * unusable one a 303 to the app. Verifying on a scanner's GET would let whoever registers with someone
 * else's address have it verified by that mailbox's scanner.
 */
export function verificationRoutes(verification: EmailVerificationService, appUrl: string): FastifyPluginAsync {
  const outcome = (result: 'success' | 'invalid') => `${appUrl}/?emailVerification=${result}`;
  return async (app) => {
    app.get('/verify-email', async (req, reply) => {
      const token = (req.query as Record<string, unknown>).token;
      // A HEAD runs this handler too (Fastify answers it from the GET route): it never verifies.
      if (req.method === 'GET' && asksForJson(req.headers.accept)) return { verified: true, user: User.from(await verification.verify({ token }, requestMeta(req))) };
      const usable = await verification.check({ token }).then(() => true, ifInvalidToken(false));
      if (!usable || typeof token !== 'string') return reply.redirect(outcome('invalid'), 303);
      return sendLinkPage(reply, 200, verifyFormPage(token));
    });
    await app.register(async (scope) => {
      // The page's form, or JSON `{ token }`: the token is the only credential, so a cross-site post gains nothing.
      acceptTokenForm(scope);
      scope.post('/verify-email', async (req, reply) => {
        if (!isFormPost(req.headers['content-type'])) return { verified: true, user: User.from(await verification.verify(req.body, requestMeta(req))) };
        const done = await verification.verify(req.body, requestMeta(req)).then(() => true, ifInvalidToken(false));
        return reply.redirect(outcome(done ? 'success' : 'invalid'), 303);
      });
    });
  };
}

// The form posts to this same path ("verify-email" relative to /auth/verify-email or /v1/auth/verify-email).
const verifyFormPage = (token: string) =>
  linkPage(
    'Verify your email address',
    `<p>Press the button to confirm that this address is yours; the link then stops working.</p>${tokenForm('verify-email', token, 'Verify my address')}`,
  );
