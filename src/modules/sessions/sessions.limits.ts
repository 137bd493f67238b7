import type { LimitDeclaration } from '../../infra/limit-spec.js';

/** Refresh: per IP (the token itself is single use; this bounds guessing and floods). */
export const refreshLimit: LimitDeclaration = (_input, client) => [['refresh', [client]]];
