import { keyed, type LimitSpec } from '../../infra/limit-spec.js';

/** A fresh verification link: per account (it can only be asked once the caller is known). */
export const resendLimit = (userId: string): LimitSpec => [['verifyResend', [keyed(userId)]]];
