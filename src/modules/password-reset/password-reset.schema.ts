import { z } from 'zod';
import { emailField, passwordField } from '../identity/identifiers.js';

export const resetRequestSchema = z.strictObject({ email: emailField });
export const resetConfirmSchema = z.strictObject({
  token: z.string().trim().min(1, 'is required').max(256, 'is too long'),
  newPassword: passwordField,
});
