import { byAddress, submitted, type LimitSpec } from '../../infra/limit-spec.js';
import { loginBodyToInput } from './accounts.schema.js';

/** Login: per (IP, submitted identifier) and per IP. The identifier is counted as submitted, known or not. */
export const loginLimits = (identifier: unknown, ip: string): LimitSpec => [
  ['login', [byAddress(ip), submitted(identifier)]],
  ['loginIp', [byAddress(ip)]],
];

export const registerLimits = (ip: string): LimitSpec => [['register', [byAddress(ip)]]];

/** REST accepts `username`, `email` or `identifier`; the limit counts whichever was sent (the same mapping as the door). */
export const restLoginIdentifier = (body: unknown): unknown => (loginBodyToInput(body) as { identifier?: unknown } | null)?.identifier;
