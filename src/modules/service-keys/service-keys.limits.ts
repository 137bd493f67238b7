import { keyed, type LimitDeclaration } from '../../infra/limit-spec.js';

/**
 * Introspections per service key, whatever the IP (RATE_LIMIT_INTROSPECT), counted once the key has
 * authenticated: nobody who merely knows a key's id can spend its budget. A gateway in front of a busy
 * API introspects often, so the default is generous; it bounds a leaked key, not normal use.
 */
export const introspectLimit: LimitDeclaration<{ keyId: string }> = (input) => [['introspect', [keyed('service-key'), keyed(input.keyId)]]];
