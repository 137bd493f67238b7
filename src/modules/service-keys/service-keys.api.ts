import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { createServiceKeySchema, introspectionRequestSchema, introspectionResponseSchema, serviceKeyIdSchema, serviceKeyJsonSchema } from './service-keys.schema.js';

/** A problem+json body that also names the OAuth error (RFC 6749 §5.2). */
const oauthProblem = z.looseObject({ code: z.string(), error: z.enum(['invalid_client', 'invalid_request']), error_description: z.string() });

export const INTROSPECTION_API: ApiDoc = {
  summary: 'RFC 7662 token introspection, for resource servers and gateways',
  description:
    'HTTP Basic with a service key (id and secret). An active access token of a live session answers its claims; anything else only {"active": false}. A revocation on any instance answers active:false from the next request on. Errors also carry the OAuth `error` name.',
  tags: ['introspection'],
  security: 'serviceKey',
  body: introspectionRequestSchema,
  bodyMediaTypes: ['application/x-www-form-urlencoded'],
  responses: {
    200: { description: 'The token\'s state', schema: introspectionResponseSchema },
    400: { description: 'error: invalid_request', mediaType: 'application/problem+json', schema: oauthProblem },
    401: { description: 'error: invalid_client, with WWW-Authenticate: Basic', mediaType: 'application/problem+json', schema: oauthProblem },
  },
  errors: ['BAD_USER_INPUT', 'UNSUPPORTED_MEDIA_TYPE'],
};

const keyOps = (summary: string, rest: Omit<ApiDoc, 'summary' | 'tags' | 'security'>): ApiDoc => ({ summary: `${summary} (ADMIN)`, tags: ['admin'], security: 'bearer', ...rest, errors: ['FORBIDDEN', 'BAD_USER_INPUT'] });

/** OpenAPI declarations of the service-key routes under /v1/admin (src/http/openapi.ts). */
export const SERVICE_KEYS_API = {
  list: keyOps('Every service key, newest first, revoked ones included', {
    responses: { 200: { description: 'GraphQL twin: serviceKeys', schema: z.object({ serviceKeys: z.array(serviceKeyJsonSchema) }) } },
  }),
  create: keyOps('A new service key; its secret is shown this once', {
    body: createServiceKeySchema,
    responses: { 201: { description: 'GraphQL twin: createServiceKey', schema: z.object({ key: serviceKeyJsonSchema, secret: z.string() }) } },
  }),
  revoke: keyOps('Revoke a service key at once on every instance', {
    params: serviceKeyIdSchema,
    responses: { 200: { description: 'revoked is false when no live key has this id (GraphQL twin: revokeServiceKey)', schema: z.object({ revoked: z.boolean() }) } },
  }),
} as const satisfies Record<string, ApiDoc>;
