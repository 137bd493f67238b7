import { z } from 'zod';

/** A 6-digit TOTP code or a recovery code (`xxxxx-xxxxx-xxxxx-xxxxx-xxxxx`, or `xxxxx-xxxxx` from older enrollments); spaces and dashes are ignored. */
export const codeField = z
  .string()
  .transform((s) => s.replace(/[\s-]/g, '').toLowerCase())
  .pipe(z.string().regex(/^(\d{6}|[a-z2-7]{25}|[a-z2-7]{10})$/, 'must be a 6-digit code or a recovery code'));

export const codeSchema = z.strictObject({ code: codeField });
export const completeMfaSchema = z.strictObject({ mfaToken: z.string().trim().min(1, 'is required').max(256), code: codeField });
