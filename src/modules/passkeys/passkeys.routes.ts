import type { FastifyPluginAsync } from 'fastify';
import { httpExchange } from '../../http/exchange.js';
import { requestMeta } from '../../http/request-meta.js';
import { AppError } from '../../infra/errors.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { PASSKEYS_API } from './passkeys.api.js';
import type { PasskeysService } from './passkeys.service.js';

/**
 * REST door of passkeys (docs/api.md, "Passkeys"): sign-in under /passkey/login, and the owner's passkeys
 * under /passkeys (bearer token).
 */
export function passkeysRoutes(passkeys: PasskeysService, auth: AuthGuard, cookies: SessionCookies): FastifyPluginAsync {
  return async (app) => {
    // RATE_LIMIT_PASSKEY_CHALLENGE (options) and RATE_LIMIT_PASSKEY_LOGIN (assertions) are counted by the service, for both doors.
    app.post('/passkey/login/options', { config: { api: PASSKEYS_API.loginOptions } }, async (req) => passkeys.startLogin(req.body ?? {}, requestMeta(req)));
    app.post('/passkey/login', { config: { api: PASSKEYS_API.login } }, async (req, reply) => cookies.json(httpExchange(req, reply), () => passkeys.finishLogin(req.body, requestMeta(req))));

    app.get('/passkeys', { config: { api: PASSKEYS_API.list } }, async (req) => ({ passkeys: await passkeys.list(await auth.request(req)) }));
    app.post('/passkeys/registration/options', { config: { api: PASSKEYS_API.registrationOptions } }, async (req) => passkeys.startRegistration(await auth.request(req), req.body ?? {}, requestMeta(req)));
    app.post('/passkeys', { config: { api: PASSKEYS_API.register } }, async (req, reply) => reply.code(201).send(await passkeys.finishRegistration(await auth.request(req), req.body, requestMeta(req))));
    app.delete<{ Params: { id: string } }>('/passkeys/:id', { config: { api: PASSKEYS_API.remove } }, async (req, reply) => {
      if (!(await passkeys.delete(await auth.request(req), { id: req.params.id }, requestMeta(req)))) throw new AppError('NOT_FOUND', 'You have no such passkey');
      return reply.code(204).send();
    });
  };
}
