import type { FastifyPluginAsync } from 'fastify';
import { wantsHtml } from '../../graphql/graphiql-paths.js';
import { acceptTokenForm, escapeHtml, ifInvalidToken, isFormPost, linkPage as page, sendLinkPage as sendPage, tokenForm } from '../../http/link-pages.js';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { registerLimit } from './accounts.limits.js';
import { changePasswordSchema, loginBodyToInput, loginRestBodySchema, reauthenticateSchema, registerSchema } from './accounts.schema.js';
import { httpExchange } from '../../http/exchange.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { tokenSchema } from '../email-verification/verification.schema.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { authPayloadJsonSchema, mfaRequiredJsonSchema, sessionModeHeadersSchema } from '../sessions/sessions.schema.js';
import type { ApiDoc } from '../../http/openapi.js';
import { z } from 'zod';
import type { AccountLock } from './account-lock.js';
import type { AccountsService } from './accounts.service.js';

/** REST door of accounts: a line or two per route over the same service as GraphQL. */
export function accountsRoutes(
  accounts: AccountsService,
  lock: Pick<AccountLock, 'checkUnlockToken' | 'unlock'>,
  cookies: SessionCookies,
  limits: Limits,
  appUrl: string,
  auth: AuthGuard,
): FastifyPluginAsync {
  return async (app) => {
    app.post('/register', { preHandler: rateLimited(limits, registerLimit), config: { api: API.register } }, async (req, reply) =>
      reply.code(201).send(await cookies.json(httpExchange(req, reply), () => accounts.register(req.body, requestMeta(req)))),
    );
    // Its limits are counted by the service (AccountsService.login), which audits a refusal. An MFA challenge passes through.
    app.post('/login', { config: { api: API.login } }, async (req, reply) => cookies.json(httpExchange(req, reply), () => accounts.login(loginBodyToInput(req.body), requestMeta(req))));
    // The link in the account-locked email. A GET changes nothing (mail scanners and link previews
    // follow links): it says what a POST of the token will do, in JSON, or for a browser as a page
    // whose one button posts it. POST (JSON, or that page's form) unlocks.
    app.get('/unlock-account', { config: { api: API.checkUnlock } }, async (req, reply) => {
      const token = (req.query as Record<string, unknown>).token;
      if (!wantsHtml(req.headers.accept)) {
        await lock.checkUnlockToken({ token });
        return { valid: true, method: 'POST' };
      }
      const valid = await lock.checkUnlockToken({ token }).then(() => true, ifInvalidToken(false));
      return valid && typeof token === 'string' ? sendPage(reply, 200, unlockFormPage(token)) : sendPage(reply, 400, invalidLinkPage(appUrl));
    });
    await app.register(async (scope) => {
      // This route also takes the page's form (a token is all it carries, and the token is the
      // credential, so a cross-site post gains nothing); REST routes are otherwise JSON only.
      acceptTokenForm(scope);
      scope.post('/unlock-account', { config: { api: API.unlock } }, async (req, reply) => {
        if (!isFormPost(req.headers['content-type'])) {
          await lock.unlock(req.body, requestMeta(req));
          return { unlocked: true };
        }
        const done = await lock.unlock(req.body, requestMeta(req)).then(() => true, ifInvalidToken(false));
        return done ? sendPage(reply, 200, unlockedPage(appUrl)) : sendPage(reply, 400, invalidLinkPage(appUrl));
      });
    });
    app.post('/reauthenticate', { config: { api: API.reauthenticate } }, async (req, reply) => {
      await accounts.reauthenticate(await auth.request(req), req.body, requestMeta(req));
      return reply.code(204).send();
    });
    app.post('/change-password', { config: { api: API.changePassword } }, async (req, reply) => {
      await accounts.changePassword(await auth.request(req), req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}

/** A browser asking for the link gets a page whose button posts the token instead. */
const PAGE = { 'text/html': z.string() };

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  register: {
    summary: 'Create an account and sign in',
    tags: ['sign-in'],
    security: 'none',
    headers: sessionModeHeadersSchema,
    body: registerSchema,
    responses: { 201: { description: 'Signed in (GraphQL twin: register)', schema: authPayloadJsonSchema } },
    errors: ['BAD_USER_INPUT', 'WEAK_PASSWORD', 'EMAIL_TAKEN', 'USERNAME_TAKEN'],
  },
  login: {
    summary: 'Sign in with a username or email and the password',
    tags: ['sign-in'],
    security: 'none',
    headers: sessionModeHeadersSchema,
    body: loginRestBodySchema,
    responses: { 200: { description: 'Signed in, or the second step is needed (POST /login/mfa)', schema: z.union([authPayloadJsonSchema, mfaRequiredJsonSchema]) } },
    errors: ['BAD_USER_INPUT', 'INVALID_CREDENTIALS', 'ACCOUNT_DISABLED', 'ACCOUNT_LOCKED'],
  },
  checkUnlock: {
    summary: 'What the unlock link in the account-locked email will do; changes nothing',
    tags: ['links'],
    security: 'none',
    query: tokenSchema,
    responses: {
      200: { description: 'The token is usable: POST it to unlock (a browser gets a page whose button does)', schema: z.object({ valid: z.literal(true), method: z.literal('POST') }), also: PAGE },
      400: { description: 'A browser asking with an unusable token gets a page saying so', mediaType: 'text/html', schema: z.string() },
    },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN'],
  },
  unlock: {
    summary: 'Lift the lockout with the token of the account-locked email',
    tags: ['links'],
    security: 'none',
    body: tokenSchema,
    bodyMediaTypes: ['application/json', 'application/x-www-form-urlencoded'],
    responses: {
      200: { description: 'Unlocked (a form post gets a page instead; GraphQL twin: unlockAccount)', schema: z.object({ unlocked: z.literal(true) }), also: PAGE },
      400: { description: 'A form post with an unusable token gets a page saying so', mediaType: 'text/html', schema: z.string() },
    },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN'],
  },
  reauthenticate: {
    summary: 'Prove it is you again (password, and a current code when two-factor sign-in is on) before a sensitive operation',
    tags: ['account'],
    security: 'bearer',
    body: reauthenticateSchema,
    responses: { 204: { description: 'The session counts as recent for REAUTH_MAX_AGE_SECONDS (GraphQL twin: reauthenticate)' } },
    errors: ['BAD_USER_INPUT', 'INVALID_CREDENTIALS', 'INVALID_TOKEN', 'ACCOUNT_LOCKED'],
  },
  changePassword: {
    summary: 'Change the password (the current one is needed); every other session ends',
    tags: ['account'],
    security: 'bearer',
    body: changePasswordSchema,
    responses: { 204: { description: 'Changed (GraphQL twin: changePassword)' } },
    errors: ['BAD_USER_INPUT', 'INVALID_CREDENTIALS', 'INVALID_TOKEN', 'WEAK_PASSWORD', 'ACCOUNT_LOCKED'],
  },
} as const satisfies Record<string, ApiDoc>;

// The unlock pages (src/http/link-pages.ts: no script, their own CSP). The form posts to this same path ("unlock-account" relative to /auth/unlock-account or /v1/auth/unlock-account).
const unlockFormPage = (token: string) =>
  page(
    'Unlock your account',
    `<p>Sign-ins to your account were stopped after too many failed attempts. Press the button to allow them again; the link then stops working.</p>${tokenForm('unlock-account', token, 'Unlock my account')}`,
  );

const unlockedPage = (appUrl: string) => page('Your account is unlocked', `<p>You can sign in again.</p><p><a href="${escapeHtml(appUrl)}">Continue</a></p>`);

const invalidLinkPage = (appUrl: string) =>
  page('This link cannot be used', `<p>The unlock link is invalid, already used or expired. Resetting your password also unlocks your account.</p><p><a href="${escapeHtml(appUrl)}">Continue</a></p>`);

