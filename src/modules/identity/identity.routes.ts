import type { FastifyPluginAsync } from 'fastify';
import type { ApiDoc } from '../../http/openapi.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { User } from './identity.inputs.js';
import { userJsonSchema } from './identity.schema.js';
import type { IdentityService } from './identity.service.js';

const ME_API: ApiDoc = {
  summary: 'The signed-in account',
  tags: ['account'],
  security: 'bearer',
  responses: { 200: { description: 'GraphQL twin: me', schema: userJsonSchema } },
};

/** REST door of `me`: the account as the session check read it (no other lookup). */
export function identityRoutes(identity: IdentityService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/me', { config: { api: ME_API } }, async (req) => User.from(await identity.me(await auth.request(req))));
  };
}
