import { keyed, type LimitDeclaration } from '../../infra/limit-spec.js';

/**
 * Asking for sign-in options (a challenge), per IP: cheap (no secret is tried, one Redis entry that lives five
 * minutes, and a source holds at most PASSKEY_LOGIN_CHALLENGES_PER_SOURCE), and asked by sign-in pages that
 * offer passkey autofill, so its own budget, generous enough for page views (RATE_LIMIT_PASSKEY_CHALLENGE).
 */
export const passkeyChallengeLimit: LimitDeclaration = (_input, client) => [['passkeyChallenge', [client]]];

/**
 * Trying an assertion, per IP (RATE_LIMIT_PASSKEY_LOGIN): the guessable part. Per account, a refused
 * assertion of a known passkey also counts toward the account's lockout, like a wrong password.
 */
export const passkeyLoginLimit: LimitDeclaration = (_input, client) => [['passkeyLogin', [client]]];

/**
 * Codes sent to start a passkey registration with MFA on: the same per-account budget as every other MFA
 * code (a right code gives its attempt back), so a stolen session cannot try codes here for free.
 */
export const registrationCodeLimit = (userId: string) => [['mfa', [keyed('user'), keyed(userId)]]] as const;
