import { byAddress, type LimitSpec } from '../../infra/limit-spec.js';
import { normalizeIdentifier } from '../identity/identifiers.js';
import { loginBodyToInput } from './accounts.schema.js';

/** The limiter key of a submitted identifier: the same normalisation as the account lookup (REST bodies are unchecked here). */
const identifierKey = (v: unknown): string => (typeof v === 'string' ? normalizeIdentifier(v.slice(0, 1024)).slice(0, 320) : '');

/**
 * Login: per (IP, submitted identifier) and per IP. The identifier is counted known or not, in the form the
 * lookup uses, so `ALICE`, `ａｌｉｃｅ` and `alice` draw from one budget.
 */
export const loginLimits = (identifier: unknown, ip: string): LimitSpec => [
  ['login', [byAddress(ip), identifierKey(identifier)]],
  ['loginIp', [byAddress(ip)]],
];

export const registerLimits = (ip: string): LimitSpec => [['register', [byAddress(ip)]]];

/** REST accepts `username`, `email` or `identifier`; the limit counts whichever was sent (the same mapping as the door). */
export const restLoginIdentifier = (body: unknown): unknown => (loginBodyToInput(body) as { identifier?: unknown } | null)?.identifier;
