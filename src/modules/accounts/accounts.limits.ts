import { submitted, type LimitSpec } from '../../infra/limit-spec.js';

/** Login: per (IP, submitted identifier) and per IP. The identifier is counted as submitted, known or not. */
export const loginLimits = (identifier: unknown, ip: string): LimitSpec => [
  ['login', [ip, submitted(identifier)]],
  ['loginIp', [ip]],
];

export const registerLimits = (ip: string): LimitSpec => [['register', [ip]]];

/** REST accepts `username`, `email` or `identifier`; the limit must count whichever was sent. */
export const restLoginIdentifier = (body: unknown): unknown => {
  const b = (body ?? {}) as Record<string, unknown>;
  return b.identifier ?? b.email ?? b.username;
};
