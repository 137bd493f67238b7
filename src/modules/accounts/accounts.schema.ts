import { z } from 'zod';
import { text } from '../../infra/validation.js';
import { emailField, normalizeIdentifier, passwordField, usernameField } from '../identity/identifiers.js';

export const registerSchema = z.strictObject({
  username: usernameField,
  email: emailField,
  password: passwordField,
});

/** Printable ASCII without spaces: what every registered username and email is made of. */
const ASCII_IDENTIFIER = /^[\x21-\x7e]+$/;

export const loginSchema = z.strictObject({
  // Refused rather than looked up: PostgreSQL's case folding (citext) and JavaScript's disagree beyond
  // ASCII (`İ` folds to `i` in one and not the other), and no registered identifier is outside it.
  identifier: text(254)
    .min(1, 'is required')
    .transform(normalizeIdentifier)
    .pipe(z.string().min(1, 'is required').regex(ASCII_IDENTIFIER, 'must be a username or an email address')),
  password: passwordField,
});

export const changePasswordSchema = z.strictObject({
  currentPassword: passwordField,
  newPassword: passwordField,
  /** A current TOTP or recovery code, required when MFA is on (step-up). */
  code: z.string().max(64).nullish(),
});

/** A proof of the owner for a signed-in session: the password, plus a current code when MFA is on. */
export const reauthenticateSchema = z.strictObject({
  password: passwordField,
  code: z.string().max(64).nullish(),
});

/** REST's login accepts `username`, `email` or `identifier` (docs/api.md, "REST routes"); all become `identifier`. */
export function loginBodyToInput(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const { username, email, identifier, ...rest } = body as Record<string, unknown>;
  return { identifier: identifier ?? email ?? username, ...rest };
}

/** REST's login body as a client may send it (see `loginBodyToInput`): derived from `loginSchema`, not a copy. */
export const loginRestBodySchema = loginSchema.omit({ identifier: true }).extend({
  identifier: loginSchema.shape.identifier.optional().describe('A username or an email address'),
  username: loginSchema.shape.identifier.optional().describe('Stands for identifier'),
  email: loginSchema.shape.identifier.optional().describe('Stands for identifier'),
});
