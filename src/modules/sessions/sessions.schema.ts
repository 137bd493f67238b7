import { z } from 'zod';

export const refreshSchema = z.strictObject({ refreshToken: z.string().trim().min(1, 'is required').max(512, 'is too long') });
export const logoutSchema = z.strictObject({ allSessions: z.boolean().default(false) });
export const sessionIdSchema = z.strictObject({ id: z.uuid({ message: 'must be a session id' }) });
