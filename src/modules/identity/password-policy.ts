import { createRequire } from 'node:module';
import { AppError } from '../../infra/errors.js';

/** No configuration can lower the floor below this (README "Passwords"). */
export const PASSWORD_MIN_FLOOR = 8;
/** Upper bound in code points: long enough for passphrases, short enough to bound hashing work. */
export const PASSWORD_MAX_LENGTH = 128;

/** Options for {@link checkPasswordPolicy}. */
export interface PasswordPolicyOptions {
  /** Minimum length in code points (`PASSWORD_MIN_LENGTH`); values under 8 are raised to 8. */
  minLength: number;
  /**
   * Strings the password must not equal, case-insensitively: username, email... For any entry that
   * contains `@`, its local part is checked too. A password containing one of them (or a part of one
   * of 4+ characters) must still pass the policy once those words are taken out.
   */
  context?: readonly string[];
  /** This deployment's names (MFA_ISSUER, EMAIL_FROM's display name), treated like `context`; `latchkey` always is. */
  serviceNames?: readonly string[];
  /** Field name used in `AppError.fields`, e.g. `newPassword`. @default 'password' */
  field?: string;
}

type LanguageCommon = typeof import('@zxcvbn-ts/language-common');

/** The service's own name: the first word a guesser tries against any of its users. */
const SERVICE_NAME = 'latchkey';
/** Shorter context words are not looked for inside a password: too many innocent passwords contain one. */
const MIN_CONTEXT_WORD = 4;

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

/** The names a deployment shows its users: the authenticator-app issuer and the display name of EMAIL_FROM (`Acme <no-reply@acme.test>`). */
export function serviceNamesOf(mfaIssuer: string, emailFrom: string): string[] {
  const display = /^\s*"?([^"<]*?)"?\s*</.exec(emailFrom)?.[1]?.trim();
  return display ? [mfaIssuer, display] : [mfaIssuer];
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
 * The context words to look for inside a password, lower-cased, longest first: the service's names,
 * the username, the email's local part, and their parts of 4+ characters (`alice.wonder` gives
 * `alice` and `wonder`; an email's domain is no part of it).
 */
function contextWords(opts: PasswordPolicyOptions): string[] {
  const words = new Set<string>();
  const add = (raw: string) => {
    const value = raw.normalize('NFKC').toLowerCase().trim();
    for (const w of [value, ...value.split(/[^\p{L}\p{N}]+/u)]) if (codePointLength(w) >= MIN_CONTEXT_WORD) words.add(w);
  };
  for (const name of [SERVICE_NAME, ...(opts.serviceNames ?? [])]) add(name);
  for (const raw of opts.context ?? []) {
    const at = raw.lastIndexOf('@');
    add(at > 0 ? raw.slice(0, at) : raw);
  }
  return [...words].sort((a, b) => b.length - a.length);
}

/**
 * True for a string made of one or two runs of repeated or consecutive characters (`aaaaaaaa`,
 * `12345678`, `hgfedcba`, `abcd1234`): each run is one guess, whatever its length.
 */
function isRunPattern(s: string): boolean {
  const cps = Array.from(s, (c) => c.codePointAt(0)!);
  let runs = 1;
  let step: number | undefined;
  for (let i = 1; i < cps.length; i++) {
    const d = cps[i]! - cps[i - 1]!;
    if (step === undefined && Math.abs(d) <= 1) step = d;
    else if (d !== step) {
      if (++runs > 2) return false;
      step = undefined;
    }
  }
  return true;
}

/** The shortest unit the string repeats (`abc` for `abcabcabc`), or null. */
function repeatedUnit(s: string): string | null {
  const m = /^(.+?)\1+$/su.exec(s);
  return m ? m[1]! : null;
}

/** Why a (lower-cased) string adds no strength of its own, or null: too short, common, or a pattern. */
function predictable(s: string, minLength: number): 'short' | 'common' | 'pattern' | null {
  if (codePointLength(s) < minLength) return 'short';
  if (getCommonPasswords().has(s)) return 'common';
  if (isRunPattern(s)) return 'pattern';
  const unit = repeatedUnit(s);
  return unit !== null && predictable(unit, minLength) ? 'pattern' : null;
}

/**
 * Throws `AppError('WEAK_PASSWORD', message, { fields: { [field]: message } })` when the password,
 * NFKC-normalised, is shorter than `minLength` (at least 8) or longer than 128 code points, equals
 * (case-insensitively) one of the `context` strings or an email's local part, is on the shipped
 * list of common passwords, leans on a context word (the service's name, the username, the email's
 * local part: what is left without them must pass on its own), or is a trivial pattern (one or two
 * runs such as `aaaaaaaa` or `12345678`, or a weak string repeated, such as `abcabcabc`). No
 * composition rules (NIST SP 800-63B): they push users to `Password1!`. Messages never contain the
 * password.
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

  // A targeted guesser tries the service's and the account's names with a few characters around them:
  // a context word counts for nothing, and what remains must be a password on its own.
  let rest = lower;
  for (const word of contextWords(opts)) rest = rest.split(word).join('');
  // The separators that joined a name to the rest (`latchkey-password`) count for nothing either.
  if (rest !== lower && predictable(rest.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''), minLength)) {
    throw weak(field, 'Password must not be built on the service name, your username or your email');
  }

  if (predictable(lower, minLength)) throw weak(field, 'Password must not be a repetition or a sequence such as aaaaaaaa or 12345678');
}
