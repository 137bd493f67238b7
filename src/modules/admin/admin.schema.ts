import { z } from 'zod';
import { text } from '../../infra/validation.js';

const ROLES = ['USER', 'SUPPORT', 'ADMIN'] as const;
const id = z.uuid('must be an account id');

/** The user list: a filter (a prefix of the username or email, a role, disabled or not) and a page. */
export const listUsersSchema = z.strictObject({
  query: text(254).toLowerCase().optional(),
  role: z.enum(ROLES, 'must be USER, SUPPORT or ADMIN').optional(),
  disabled: z.boolean().optional(),
  first: z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'),
  after: z.string().max(200).optional(),
});

export const userIdSchema = z.strictObject({ id });
export const disableSchema = z.strictObject({ id, reason: text(500).optional() });
export const setRoleSchema = z.strictObject({ id, role: z.enum(ROLES, 'must be USER, SUPPORT or ADMIN') });

/** REST: `GET /v1/admin/users?query=&role=&disabled=&first=&after=` (query strings, all optional). */
export const listUsersQuerySchema = z.strictObject({
  query: z.string().optional(),
  role: z.string().optional(),
  disabled: z.enum(['true', 'false'], 'must be true or false').transform((v) => v === 'true').optional(),
  first: z.string().regex(/^\d{1,3}$/, 'must be a number from 1 to 100').transform(Number).optional(),
  after: z.string().optional(),
});

/** REST: `POST /v1/admin/users/{id}/disable` takes an optional `{ reason }`. */
export const disableBodySchema = z.strictObject({ reason: z.string().optional() });

/** REST: `PUT /v1/admin/users/{id}/role` takes `{ role }` (the rest of `setRoleSchema`). */
export const setRoleBodySchema = setRoleSchema.omit({ id: true });

/** An account as the operators' REST routes answer it (`adminUserJson`, serialised): the OpenAPI `AdminUser`. */
export const adminUserJsonSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    emailVerified: z.boolean(),
    mfaEnabled: z.boolean(),
    createdAt: z.iso.datetime(),
    role: z.enum(ROLES),
    disabledAt: z.iso.datetime().nullable(),
    disabledReason: z.string().nullable(),
    lockedUntil: z.iso.datetime().nullable(),
    lastSignInAt: z.iso.datetime().nullable(),
    activeSessions: z.int(),
  })
  .meta({ id: 'AdminUser' });
