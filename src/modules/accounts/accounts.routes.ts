import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import { isAppError } from '../../infra/errors.js';
import type { Limits } from '../../infra/rate-limit.js';
import { loginLimits, registerLimits, restLoginIdentifier } from './accounts.limits.js';
import { loginBodyToInput } from './accounts.schema.js';
import type { IssuedTokens } from '../sessions/sessions.service.js';
import type { UserProfile } from './accounts.repository.js';
import type { AccountsService } from './accounts.service.js';
import { User } from './accounts.inputs.js';

/** The AuthPayload JSON both doors promise (CONTRACT.md §5). */
export const authPayloadJson = (r: IssuedTokens & { user: UserProfile }) => ({
  accessToken: r.accessToken,
  refreshToken: r.refreshToken,
  tokenType: r.tokenType,
  expiresIn: r.expiresIn,
  user: User.from(r.user),
});

/** REST door of accounts: a line or two per route over the same service as GraphQL. */
export function accountsRoutes(accounts: AccountsService, limits: Limits, appUrl: string): FastifyPluginAsync {
  return async (app) => {
    app.post('/register', { preHandler: rateLimited(limits, (req) => registerLimits(req.ip)) }, async (req, reply) =>
      reply.code(201).send(authPayloadJson(await accounts.register(req.body, requestMeta(req)))),
    );
    app.post('/login', { preHandler: rateLimited(limits, (req) => loginLimits(restLoginIdentifier(req.body), req.ip)) }, async (req) => {
      const result = await accounts.login(loginBodyToInput(req.body), requestMeta(req));
      return 'mfaRequired' in result ? result : authPayloadJson(result);
    });
    // The link in the account-locked email: JSON for API clients, on to the app (303) for a browser.
    app.get('/unlock-account', async (req, reply) => {
      const wantsHtml = (req.headers.accept ?? '').includes('text/html');
      try {
        await accounts.unlock({ token: (req.query as Record<string, unknown>).token });
      } catch (err) {
        if (wantsHtml && isAppError(err) && (err.code === 'INVALID_TOKEN' || err.code === 'BAD_USER_INPUT')) {
          return reply.redirect(`${appUrl}/?accountUnlock=invalid`, 303);
        }
        throw err;
      }
      return wantsHtml ? reply.redirect(`${appUrl}/?accountUnlock=success`, 303) : { unlocked: true };
    });
  };
}
