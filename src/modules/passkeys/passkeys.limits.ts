import { keyed, type LimitDeclaration } from '../../infra/limit-spec.js';

/**
 * Passkey sign-in, per IP: the options call and the assertion each count, so a source gets one budget for
 * asking challenges (each a Redis entry for five minutes) and for trying assertions.
 */
export const passkeyLoginLimit: LimitDeclaration = (_input, client) => [['passkeyLogin', [client]]];

/**
 * Codes sent to start a passkey registration with MFA on: the same per-account budget as every other MFA
 * code (a right code gives its attempt back), so a stolen session cannot try codes here for free.
 */
export const registrationCodeLimit = (userId: string) => [['mfa', [keyed('user'), keyed(userId)]]] as const;
