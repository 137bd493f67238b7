import { z } from 'zod';
import { SecurityEventType } from '../../infra/db/enums.js';

export const pageSchema = z.strictObject({
  first: z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'),
  after: z.string().max(200).optional(),
});
export const markReadSchema = z.strictObject({
  ids: z.array(z.uuid({ message: 'must be event ids' })).max(500, 'at most 500 ids at once'),
});

/** REST: `GET /auth/security-events?first=&after=` (query strings, both optional). */
export const pageQuerySchema = z.strictObject({
  first: z.string().regex(/^\d{1,3}$/, 'must be a number from 1 to 100').transform(Number).optional(),
  after: z.string().optional(),
});


/** A security event as the REST routes answer it. */
export const securityEventJsonSchema = z
  .object({
    id: z.uuid(),
    type: z.enum(SecurityEventType),
    occurredAt: z.iso.datetime(),
    sessionId: z.uuid().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    readAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'SecurityEvent' });

export const eventPageJsonSchema = z.object({
  events: z.array(securityEventJsonSchema),
  pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }),
});
