import type { LimitName } from './config.js';

/** A client's address in a limit key: `Limits` counts it by its network (`clientNetwork`), not as written. */
export interface ClientAddress {
  readonly clientAddress: string;
}

/** Marks the request's IP as a key part, so IPv6 counts per RATE_LIMIT_IPV6_PREFIX network (every per-IP limit uses this). */
export const byAddress = (ip: string): ClientAddress => ({ clientAddress: ip });

/** One part of a limit key: a string (hashed as is), or a client address. */
export type KeyPart = string | null | undefined | ClientAddress;

/** Which limits one call consumes, each with the parts of its key. One spec serves both doors. */
export type LimitSpec = readonly (readonly [LimitName, readonly KeyPart[]])[];

/** A submitted string, whatever shape the raw input had (REST bodies are unchecked when limits run). */
export const submitted = (v: unknown): string => (typeof v === 'string' ? v.trim().toLowerCase().slice(0, 320) : '');
