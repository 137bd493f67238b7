import { z } from 'zod';

/** Roles as the API names them (the database's `Role`). */
export const roleSchema = z.enum(['USER', 'SUPPORT', 'ADMIN']);

/** An account as the REST routes answer it (`User.from`, serialised): the OpenAPI `User`. */
export const userJsonSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    emailVerified: z.boolean(),
    mfaEnabled: z.boolean(),
    role: roleSchema.describe('As stored now: a change takes effect on the next call'),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'User' });
