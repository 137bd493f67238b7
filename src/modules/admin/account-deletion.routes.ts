import type { FastifyPluginAsync } from 'fastify';
import type { ApiDoc } from '../../http/openapi.js';
import { requestMeta } from '../../http/request-meta.js';
import { reauthenticateSchema } from '../accounts/accounts.schema.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { AccountLifecycle } from './account-lifecycle.js';

const DELETE_ACCOUNT_API: ApiDoc = {
  summary: 'Erase the caller\'s account: needs a recent sign-in, the password and, with two-factor sign-in on, a current code',
  tags: ['account'],
  security: 'bearer',
  body: reauthenticateSchema,
  responses: { 204: { description: 'Erased; every session ended, the email and username are free (GraphQL twin: deleteAccount)' } },
  errors: ['BAD_USER_INPUT', 'INVALID_CREDENTIALS', 'INVALID_TOKEN', 'REAUTHENTICATION_REQUIRED', 'FORBIDDEN', 'ACCOUNT_LOCKED'],
};

/** REST door of `deleteAccount` (a POST: a body with a DELETE is dropped by some clients and proxies). */
export function accountDeletionRoutes(lifecycle: AccountLifecycle, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.post('/delete-account', { config: { api: DELETE_ACCOUNT_API } }, async (req, reply) => {
      await lifecycle.deleteOwnAccount(await auth.request(req), req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}
