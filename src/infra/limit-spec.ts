import type { LimitName } from './config.js';

/** Which limits one call consumes, each with the parts of its key. One spec serves both doors. */
export type LimitSpec = readonly (readonly [LimitName, readonly (string | null | undefined)[]])[];

/** A submitted string, whatever shape the raw input had (REST bodies are unchecked when limits run). */
export const submitted = (v: unknown): string => (typeof v === 'string' ? v.trim().toLowerCase().slice(0, 320) : '');
