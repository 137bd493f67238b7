import { z } from 'zod';
import { text } from '../../infra/validation.js';

/** A 6-digit TOTP code or a recovery code (`xxxxx-xxxxx-xxxxx-xxxxx-xxxxx`, or `xxxxx-xxxxx` from older enrollments); spaces and dashes are ignored. */
export const codeField = z
  .string()
  .transform((s) => s.replace(/[\s-]/g, '').toLowerCase())
  .pipe(z.string().regex(/^(\d{6}|[a-z2-7]{25}|[a-z2-7]{10})$/, 'must be a 6-digit code or a recovery code'));

export const codeSchema = z.strictObject({ code: codeField });
export const completeMfaSchema = z.strictObject({ mfaToken: z.string().trim().min(1, 'is required').max(256), code: codeField });

/** An operator's MFA reset: the account, and who did it (recorded with the event). */
export const resetMfaSchema = z.strictObject({ userId: z.uuid('must be an account id'), actor: text(128).min(1, 'is required') });
