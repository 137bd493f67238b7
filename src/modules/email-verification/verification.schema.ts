import { z } from 'zod';

/** One-time tokens are 43 base64url characters; the length cap keeps garbage away from the database. */
export const tokenSchema = z.strictObject({ token: z.string().trim().min(1, 'is required').max(256, 'is too long') });
