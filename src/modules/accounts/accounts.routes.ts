import type { FastifyPluginAsync } from 'fastify';
import { wantsHtml } from '../../graphql/graphiql-paths.js';
import { acceptTokenForm, escapeHtml, ifInvalidToken, isFormPost, linkPage as page, sendLinkPage as sendPage, tokenForm } from '../../http/link-pages.js';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import type { Limits } from '../../infra/rate-limit.js';
import { registerLimit } from './accounts.limits.js';
import { loginBodyToInput } from './accounts.schema.js';
import { httpExchange } from '../../http/exchange.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import type { AccountLock } from './account-lock.js';
import type { AccountsService } from './accounts.service.js';

/** REST door of accounts: a line or two per route over the same service as GraphQL. */
export function accountsRoutes(
  accounts: AccountsService,
  lock: Pick<AccountLock, 'checkUnlockToken' | 'unlock'>,
  cookies: SessionCookies,
  limits: Limits,
  appUrl: string,
): FastifyPluginAsync {
  return async (app) => {
    app.post('/register', { preHandler: rateLimited(limits, registerLimit) }, async (req, reply) =>
      reply.code(201).send(await cookies.json(httpExchange(req, reply), () => accounts.register(req.body, requestMeta(req)))),
    );
    // Its limits are counted by the service (AccountsService.login), which audits a refusal. An MFA challenge passes through.
    app.post('/login', async (req, reply) => cookies.json(httpExchange(req, reply), () => accounts.login(loginBodyToInput(req.body), requestMeta(req))));
    // The link in the account-locked email. A GET changes nothing (mail scanners and link previews
    // follow links): it says what a POST of the token will do, in JSON, or for a browser as a page
    // whose one button posts it. POST (JSON, or that page's form) unlocks.
    app.get('/unlock-account', async (req, reply) => {
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
      scope.post('/unlock-account', async (req, reply) => {
        if (!isFormPost(req.headers['content-type'])) {
          await lock.unlock(req.body, requestMeta(req));
          return { unlocked: true };
        }
        const done = await lock.unlock(req.body, requestMeta(req)).then(() => true, ifInvalidToken(false));
        return done ? sendPage(reply, 200, unlockedPage(appUrl)) : sendPage(reply, 400, invalidLinkPage(appUrl));
      });
    });
  };
}

// The unlock pages (src/http/link-pages.ts: no script, their own CSP). The form posts to this same path ("unlock-account" relative to /auth/unlock-account or /v1/auth/unlock-account).
const unlockFormPage = (token: string) =>
  page(
    'Unlock your account',
    `<p>Sign-ins to your account were stopped after too many failed attempts. Press the button to allow them again; the link then stops working.</p>${tokenForm('unlock-account', token, 'Unlock my account')}`,
  );

const unlockedPage = (appUrl: string) => page('Your account is unlocked', `<p>You can sign in again.</p><p><a href="${escapeHtml(appUrl)}">Continue</a></p>`);

const invalidLinkPage = (appUrl: string) =>
  page('This link cannot be used', `<p>The unlock link is invalid, already used or expired. Resetting your password also unlocks your account.</p><p><a href="${escapeHtml(appUrl)}">Continue</a></p>`);

