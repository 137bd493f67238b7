import { z } from 'zod';

const refreshToken = z.string().trim().min(1, 'is required').max(512, 'is too long');
export const refreshSchema = z.strictObject({ refreshToken });
/** REST body of a refresh: the token, or nothing in cookie mode (the cookie carries it). */
export const refreshBodySchema = z.strictObject({ refreshToken: refreshToken.optional() });
export const logoutSchema = z.strictObject({ allSessions: z.boolean().default(false) });
export const sessionIdSchema = z.strictObject({ id: z.uuid({ message: 'must be a session id' }) });
