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

/**
 * The one form of a sign-in identifier, used for the account lookup and for every limiter and lockout
 * key alike: compatibility forms folded (NFKC: fullwidth letters are ASCII ones), trimmed, lower-cased.
 * Registration accepts ASCII only, so a result that is still not ASCII names no account.
 */
export function normalizeIdentifier(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase();
}
