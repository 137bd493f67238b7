import { createRequire } from 'node:module';
import { AppError } from '../../infra/errors.js';

/** No configuration can lower the floor below this (CONTRACT.md §3). */
export const PASSWORD_MIN_FLOOR = 8;
/** Upper bound in code points: long enough for passphrases, short enough to bound hashing work. */
export const PASSWORD_MAX_LENGTH = 128;

/** Options for {@link checkPasswordPolicy}. */
export interface PasswordPolicyOptions {
  /** Minimum length in code points (`PASSWORD_MIN_LENGTH`); values under 8 are raised to 8. */
  minLength: number;
  /**
   * Strings the password must not equal, case-insensitively: username, email... For any entry that
   * contains `@`, its local part is checked too.
   */
  context?: readonly string[];
  /** Field name used in `AppError.fields`, e.g. `newPassword`. @default 'password' */
  field?: string;
}

type LanguageCommon = typeof import('@zxcvbn-ts/language-common');

let commonPasswords: ReadonlySet<string> | undefined;

/**
 * The common-password list of `@zxcvbn-ts/language-common` (≈49k entries, frequency-ranked from
 * public breach corpora), lower-cased into a Set on first use. Loaded with a synchronous `require`
 * so the policy check stays synchronous; ~20 ms and ~4 MB of heap, once per process.
 */
function getCommonPasswords(): ReadonlySet<string> {
  if (!commonPasswords) {
    const require = createRequire(import.meta.url);
    const list = (require('@zxcvbn-ts/language-common') as LanguageCommon).dictionary['passwords-common'];
    // Fail closed: if a package update changed the shape, refusing registrations beats silently
    // accepting "123456789".
    if (!Array.isArray(list) || list.length < 1000) {
      throw new Error('@zxcvbn-ts/language-common: passwords-common list missing or unexpectedly small');
    }
    commonPasswords = new Set(list.map((p) => p.normalize('NFKC').toLowerCase()));
  }
  return commonPasswords;
}

/** Loads the common-password list now (e.g. at startup) so the first registration does not pay for it. */
export function preloadCommonPasswords(): number {
  return getCommonPasswords().size;
}

/** Length in Unicode code points: "🔐" is one, though it is two UTF-16 units and four UTF-8 bytes. */
function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function weak(field: string, message: string): AppError {
  return new AppError('WEAK_PASSWORD', message, { fields: { [field]: message } });
}

/**
 * Throws `AppError('WEAK_PASSWORD', message, { fields: { [field]: message } })` when the password,
 * NFKC-normalised, is shorter than `minLength` (at least 8) or longer than 128 code points, equals
 * (case-insensitively) one of the `context` strings or an email's local part, or is on the shipped
 * list of common passwords. No composition rules (NIST SP 800-63B): they push users to `Password1!`.
 * Messages never contain the password.
 */
export function checkPasswordPolicy(password: string, opts: PasswordPolicyOptions): void {
  const field = opts.field ?? 'password';
  const minLength = Math.max(PASSWORD_MIN_FLOOR, opts.minLength);
  const normalised = password.normalize('NFKC');
  const length = codePointLength(normalised);

  if (length < minLength) throw weak(field, `Password must be at least ${minLength} characters long`);
  // Also bounds the work an attacker can make the server do per request.
  if (length > PASSWORD_MAX_LENGTH) throw weak(field, `Password must be at most ${PASSWORD_MAX_LENGTH} characters long`);

  const lower = normalised.toLowerCase();
  // The first thing a targeted guesser tries is the account's own name or address.
  for (const raw of opts.context ?? []) {
    const value = raw.normalize('NFKC').toLowerCase().trim();
    const at = value.lastIndexOf('@');
    const candidates = at > 0 ? [value, value.slice(0, at)] : [value];
    if (candidates.some((c) => c.length > 0 && c === lower)) {
      throw weak(field, 'Password must not be the same as your username or email');
    }
  }

  // Online guessing and credential stuffing start with exactly these passwords.
  if (getCommonPasswords().has(lower)) throw weak(field, 'This password is too common, choose a less predictable one');
}
