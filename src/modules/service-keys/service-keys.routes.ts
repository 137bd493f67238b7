import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemOf } from '../../http/problem.js';
import { requestMeta } from '../../http/request-meta.js';
import { isAppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { Introspection } from './introspection.js';
import { serviceKeyJson } from './service-keys.inputs.js';
import { INTROSPECTION_API, SERVICE_KEYS_API } from './service-keys.api.js';
import { introspectionRequestSchema } from './service-keys.schema.js';
import type { ServiceKeysService } from './service-keys.service.js';

export const INTROSPECTION_PATH = '/oauth/introspect';

/** RFC 6749 §5.2 error names, added to the problem+json body for OAuth clients and gateways that read them. */
const OAUTH_ERROR = { UNAUTHENTICATED: 'invalid_client', BAD_USER_INPUT: 'invalid_request' } as const;

/**
 * POST /oauth/introspect (RFC 7662): a form body `token=`, HTTP Basic credentials of a service key. The
 * client is authenticated before the token is looked at, so without a live key nothing is learnt of it.
 */
export function introspectionRoutes(keys: ServiceKeysService, introspection: Introspection): FastifyPluginAsync {
  return async (app) => {
    // RFC 7662 §2.1 takes a form body; only that, and small (an access token is well under a kilobyte).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    app.post(INTROSPECTION_PATH, { config: { api: INTROSPECTION_API } }, async (req, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      try {
        await keys.authenticate(req.headers.authorization, requestMeta(req));
        const { token } = parseInput(introspectionRequestSchema, req.body ?? {});
        return await introspection.introspect(token);
      } catch (err) {
        return oauthProblem(reply, err);
      }
    });
  };
}

/** An error as problem+json with its OAuth `error` name too; a bad client also gets its challenge (RFC 6749 §5.2). */
function oauthProblem(reply: FastifyReply, err: unknown): FastifyReply {
  if (!isAppError(err) || !(err.code in OAUTH_ERROR)) throw err;
  const error = OAUTH_ERROR[err.code as keyof typeof OAUTH_ERROR];
  if (error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="latchkey", charset="UTF-8"');
  return reply
    .code(err.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...problemOf(err, INTROSPECTION_PATH), error, error_description: err.message });
}

type ById = { Params: { id: string } };

/** Service keys for ADMINs under `/v1/admin` (the service checks the role), over the same service as GraphQL. */
export function serviceKeyAdminRoutes(keys: ServiceKeysService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/service-keys', { config: { api: SERVICE_KEYS_API.list } }, async (req) => ({ serviceKeys: (await keys.list(await auth.request(req), requestMeta(req))).map(serviceKeyJson) }));
    app.post('/service-keys', { config: { api: SERVICE_KEYS_API.create } }, async (req, reply) => {
      const { key, secret } = await keys.create(await auth.request(req), req.body ?? {}, requestMeta(req));
      return reply.code(201).send({ key: serviceKeyJson(key), secret });
    });
    app.post<ById>('/service-keys/:id/revoke', { config: { api: SERVICE_KEYS_API.revoke } }, async (req) => ({ revoked: await keys.revoke(await auth.request(req), req.params.id, requestMeta(req)) }));
  };
}
