import { keyed, type LimitDeclaration } from '../../infra/limit-spec.js';

/**
 * Operator calls (every admin operation, both doors) per operator account, whatever the IP: a stolen
 * operator token cannot page through every account, or disable them one by one, at the general budget's
 * pace from many addresses. Counted once the caller's role has been checked (so only operators draw on it).
 */
export const adminLimit: LimitDeclaration<{ actorId: string }> = (input) => [['admin', [keyed('operator'), keyed(input.actorId)]]];
