import type { FastifyPluginAsync } from 'fastify';
import { acceptTokenForm, asksForJson, ifInvalidToken, isFormPost, linkPage, sendLinkPage, tokenForm } from '../../http/link-pages.js';
import { requestMeta } from '../../http/request-meta.js';
import type { ApiDoc } from '../../http/openapi.js';
import { User } from '../identity/identity.inputs.js';
import { userJsonSchema } from '../identity/identity.schema.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { tokenSchema } from './verification.schema.js';
import { z } from 'zod';
import type { EmailVerificationService } from './verification.service.js';

/**
 * The link in the verification email, GET /auth/verify-email?token=. Only a client that asks for JSON
 * (`Accept: application/json`) verifies with the GET and gets JSON. Anything else (a browser, a mail
 * scanner, a link preview) changes nothing: a usable token gets a page whose one button POSTs it, an
 * unusable one a 303 to the app. Verifying on a scanner's GET would let whoever registers with someone
 * else's address have it verified by that mailbox's scanner.
 */
export function verificationRoutes(verification: EmailVerificationService, appUrl: string, auth: AuthGuard): FastifyPluginAsync {
  const outcome = (result: 'success' | 'invalid') => `${appUrl}/?emailVerification=${result}`;
  return async (app) => {
    app.get('/verify-email', { config: { api: API.check } }, async (req, reply) => {
      const token = (req.query as Record<string, unknown>).token;
      // A HEAD runs this handler too (Fastify answers it from the GET route): it never verifies.
      if (req.method === 'GET' && asksForJson(req.headers.accept)) return { verified: true, user: User.from(await verification.verify({ token }, requestMeta(req))) };
      const usable = await verification.check({ token }).then(() => true, ifInvalidToken(false));
      if (!usable || typeof token !== 'string') return reply.redirect(outcome('invalid'), 303);
      // Its form's POST answers with a 303 to the app: the CSP's form-action must allow the app's origin too.
      return sendLinkPage(reply, 200, verifyFormPage(token), appUrl);
    });
    await app.register(async (scope) => {
      // The page's form, or JSON `{ token }`: the token is the only credential, so a cross-site post gains nothing.
      acceptTokenForm(scope);
      scope.post('/verify-email', { config: { api: API.verify } }, async (req, reply) => {
        if (!isFormPost(req.headers['content-type'])) return { verified: true, user: User.from(await verification.verify(req.body, requestMeta(req))) };
        const done = await verification.verify(req.body, requestMeta(req)).then(() => true, ifInvalidToken(false));
        return reply.redirect(outcome(done ? 'success' : 'invalid'), 303);
      });
    });
    // Its limit (RATE_LIMIT_VERIFY_RESEND, per account) is counted by the service.
    app.post('/verify-email/resend', { config: { api: API.resend } }, async (req) => ({ sent: await verification.resend(await auth.request(req)) }));
  };
}

const verifiedSchema = z.object({ verified: z.literal(true), user: userJsonSchema });
const REDIRECT = { description: 'To APP_URL/?emailVerification=success or =invalid' };

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  check: {
    summary: 'The link in the verification email: verifies only for a client asking for JSON',
    description: 'With Accept: application/json the token is used and the answer is JSON. Anything else (a browser, a mail scanner) changes nothing: a usable token gets a page whose button posts it, an unusable one a 303 to the app.',
    tags: ['links'],
    security: 'none',
    query: tokenSchema,
    responses: { 200: { description: 'Verified (GraphQL twin: verifyEmail), or the page', schema: verifiedSchema, also: { 'text/html': z.string() } }, 303: REDIRECT },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN'],
  },
  verify: {
    summary: 'Verify the address with the token of the verification email',
    tags: ['links'],
    security: 'none',
    body: tokenSchema,
    bodyMediaTypes: ['application/json', 'application/x-www-form-urlencoded'],
    responses: { 200: { description: 'Verified (GraphQL twin: verifyEmail)', schema: verifiedSchema }, 303: { description: 'A form post: to APP_URL/?emailVerification=success or =invalid' } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN'],
  },
  resend: {
    summary: 'Send a fresh verification link to the signed-in account',
    tags: ['account'],
    security: 'bearer',
    responses: { 200: { description: 'sent is false when the address is already verified (GraphQL twin: resendVerificationEmail)', schema: z.object({ sent: z.boolean() }) } },
  },
} as const satisfies Record<string, ApiDoc>;

// The form posts to this same path ("verify-email" relative to /auth/verify-email or /v1/auth/verify-email).
const verifyFormPage = (token: string) =>
  linkPage(
    'Verify your email address',
    `<p>Press the button to confirm that this address is yours; the link then stops working.</p>${tokenForm('verify-email', token, 'Verify my address')}`,
  );
