import type { FastifyPluginAsync } from 'fastify';
import { requestMeta } from '../../http/request-meta.js';
import { authPayloadJson } from '../sessions/sessions.inputs.js';
import type { MfaService } from './mfa.service.js';

/** REST door of the login's second step (docs/api.md, "REST routes"): POST /auth/login/mfa. */
export function mfaRoutes(mfa: MfaService): FastifyPluginAsync {
  return async (app) => {
    app.post('/login/mfa', async (req) => authPayloadJson(await mfa.completeLogin(req.body, requestMeta(req))));
  };
}
