import { createHash } from 'node:crypto';
import { keyed, type LimitSpec } from '../../infra/limit-spec.js';

/** Codes per sign-in challenge (every code counts), whatever the number of challenges opened. */
export const challengeLimit = (mfaToken: string): LimitSpec => [['mfa', [keyed('challenge'), keyed(createHash('sha256').update(mfaToken).digest('hex'))]]];

/** Codes per account; a right code gives its attempt back (`Limits.refund`), so only wrong ones use it up. */
export const accountCodeLimit = (userId: string) => [['mfa', [keyed('user'), keyed(userId)]]] as const;
