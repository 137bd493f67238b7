import { z } from 'zod';
import { text } from '../../infra/validation.js';

/** createServiceKey: a name for operators to tell keys apart (the gateway or service that holds it). */
export const createServiceKeySchema = z.strictObject({
  name: text(100).min(1, 'must not be empty'),
});

export const serviceKeyIdSchema = z.strictObject({ id: z.uuid('must be a service key id') });

/**
 * RFC 7662 §2.1: `token`, and an optional `token_type_hint` the server may ignore (only access tokens are
 * introspected here). Other parameters are ignored, as the RFC lets a server do.
 */
export const introspectionRequestSchema = z
  .object({
    token: z.string().min(1, 'is required').max(4096, 'is too long'),
    token_type_hint: z.string().max(64).optional(),
  });

/** RFC 7662 §2.2: only `active` for a token that is not (expired, forged, revoked, of an ended session). */
export const introspectionResponseSchema = z
  .object({
    active: z.boolean(),
    sub: z.uuid().optional().describe('The user id'),
    sid: z.uuid().optional().describe('The session id'),
    exp: z.int().optional(),
    iat: z.int().optional(),
    iss: z.string().optional(),
    aud: z.string().optional(),
    token_type: z.literal('access_token').optional(),
    username: z.string().optional(),
    role: z.enum(['USER', 'SUPPORT', 'ADMIN']).optional(),
  })
  .meta({ id: 'IntrospectionResponse' });

export type IntrospectionResponse = z.infer<typeof introspectionResponseSchema>;

/** A service key as the REST routes answer it (`serviceKeyJson`, serialised). */
export const serviceKeyJsonSchema = z
  .object({
    id: z.uuid().describe('The HTTP Basic user name of the key'),
    name: z.string(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ServiceKey' });
