import { z } from 'zod';
import { text } from '../../infra/validation.js';

/** Usernames: a safe character set, so they can appear in emails, URLs and logs without escaping surprises. */
export const USERNAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,30})[A-Za-z0-9]$/;

/** Trims and lower-cases the domain only: the local part is the mailbox owner's, and may be case-sensitive. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim();
  const at = email.lastIndexOf('@');
  return at < 0 ? email : `${email.slice(0, at)}@${email.slice(at + 1).toLowerCase()}`;
}

export const emailField = text(254)
  .pipe(z.email({ message: 'must be a valid email address' }))
  .transform(normalizeEmail);

export const usernameField = text(32).regex(USERNAME, 'must be 3-32 letters, digits, dots, dashes or underscores, starting and ending with a letter or digit');

/** Passwords are never trimmed (spaces are characters); length and commonness are the policy's job. */
export const passwordField = z.string().min(1, 'is required').max(1024, 'is too long');

export const registerSchema = z.strictObject({
  username: usernameField,
  email: emailField,
  password: passwordField,
});

/**
 * The one form of a sign-in identifier, used for the account lookup and for every limiter and lockout
 * key alike: compatibility forms folded (NFKC: fullwidth letters are ASCII ones), trimmed, lower-cased.
 * Registration accepts ASCII only, so a result that is still not ASCII names no account.
 */
export function normalizeIdentifier(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase();
}

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

/** REST's login accepts `username`, `email` or `identifier` (CONTRACT.md §5); all become `identifier`. */
export function loginBodyToInput(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const { username, email, identifier, ...rest } = body as Record<string, unknown>;
  return { identifier: identifier ?? email ?? username, ...rest };
}
