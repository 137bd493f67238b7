import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import { loginBodyToInput } from './accounts.schema.js';
import type { AccountsService, AuthResult } from './accounts.service.js';
import { User } from './accounts.inputs.js';

/** The AuthPayload JSON both doors promise (CONTRACT.md §5). */
export const authPayloadJson = (r: AuthResult) => ({
  accessToken: r.accessToken,
  refreshToken: r.refreshToken,
  tokenType: r.tokenType,
  expiresIn: r.expiresIn,
  user: User.from(r.user),
});

/** REST door of accounts: a line or two per route over the same service as GraphQL. */
export function accountsRoutes(accounts: AccountsService): FastifyPluginAsync {
  return async (app) => {
    app.post('/register', async (req, reply) => reply.code(201).send(authPayloadJson(await accounts.register(req.body, requestMeta(req)))));
    app.post('/login', async (req) => authPayloadJson(await accounts.login(loginBodyToInput(req.body), requestMeta(req))));
  };
}
