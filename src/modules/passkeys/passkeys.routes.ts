import type { FastifyPluginAsync } from 'fastify';
import { rateLimited } from '../../http/rate-limit.js';
import { requestMeta } from '../../http/request-meta.js';
import { AppError } from '../../infra/errors.js';
import type { Limits } from '../../infra/rate-limit.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { authPayloadJson } from '../sessions/sessions.inputs.js';
import { passkeyLoginLimit } from './passkeys.limits.js';
import type { PasskeysService } from './passkeys.service.js';

/**
 * REST door of passkeys (docs/api.md, "Passkeys"): sign-in under /passkey/login, and the owner's passkeys
 * under /passkeys (bearer token).
 */
export function passkeysRoutes(passkeys: PasskeysService, auth: AuthGuard, limits: Limits): FastifyPluginAsync {
  return async (app) => {
    const limited = { preHandler: rateLimited(limits, passkeyLoginLimit) };
    app.post('/passkey/login/options', limited, async (req) => passkeys.startLogin(req.body ?? {}, requestMeta(req)));
    app.post('/passkey/login', limited, async (req) => authPayloadJson(await passkeys.finishLogin(req.body, requestMeta(req))));

    app.get('/passkeys', async (req) => ({ passkeys: await passkeys.list(await auth.request(req)) }));
    app.post('/passkeys/registration/options', async (req) => passkeys.startRegistration(await auth.request(req), req.body ?? {}, requestMeta(req)));
    app.post('/passkeys', async (req, reply) => reply.code(201).send(await passkeys.finishRegistration(await auth.request(req), req.body, requestMeta(req))));
    app.delete<{ Params: { id: string } }>('/passkeys/:id', async (req, reply) => {
      if (!(await passkeys.delete(await auth.request(req), { id: req.params.id }, requestMeta(req)))) throw new AppError('NOT_FOUND', 'You have no such passkey');
      return reply.code(204).send();
    });
  };
}
