import { fieldOf, keyed, type LimitDeclaration } from '../../infra/limit-spec.js';
import { normalizeIdentifier } from '../identity/identifiers.js';

/** The limiter key of a submitted identifier: the same normalisation as the account lookup (REST bodies are unchecked here). */
const identifierKey = (v: unknown) => keyed(typeof v === 'string' ? normalizeIdentifier(v.slice(0, 1024)).slice(0, 320) : '');

/**
 * Login (input: `{ identifier }`): per (IP, submitted identifier) and per IP. The identifier is counted
 * known or not, in the form the lookup uses, so `ALICE`, `ａｌｉｃｅ` and `alice` draw from one budget.
 */
export const loginLimit: LimitDeclaration = (input, client) => [
  ['login', [client, identifierKey(fieldOf(input, 'identifier'))]],
  ['loginIp', [client]],
];

/** Sign-up: per IP. */
export const registerLimit: LimitDeclaration = (_input, client) => [['register', [client]]];

/**
 * The owner's proofs (reauthenticate, changePassword) for an account: per account, and per IP together
 * with login, so an address gets one budget of password checks whichever door it uses.
 */
export const ownerProofLimit: LimitDeclaration<{ userId: string }> = (input, client) => [
  ['reauth', [keyed(input.userId)]],
  ['loginIp', [client]],
];
