import type { LimitName } from './config.js';

/** A client's address in a limit key: `Limits` counts it by its network (`clientNetwork`), not as written. */
export interface ClientAddress {
  readonly clientAddress: string;
}

declare const counted: unique symbol;

/**
 * A string part of a limit key, counted as written (hashed). Only `submitted` and `keyed` make one, so a
 * client's address cannot slip into a key as a plain string: it enters as a `ClientAddress`, by network.
 */
export type KeyText = string & { readonly [counted]: true };

/** Marks the request's IP as a key part, so IPv6 counts per RATE_LIMIT_IPV6_PREFIX network (every per-IP limit uses this). */
export const byAddress = (ip: string): ClientAddress => ({ clientAddress: ip });

/** A submitted string, whatever shape the raw input had (REST bodies are unchecked when limits run). */
export const submitted = (v: unknown): KeyText => (typeof v === 'string' ? v.trim().toLowerCase().slice(0, 320) : '') as KeyText;

/** A string the server made or normalised itself (an account id, a digest, a fixed label). */
export const keyed = (s: string): KeyText => s as KeyText;

/** One part of a limit key. */
export type KeyPart = KeyText | ClientAddress | null | undefined;

/** Which limits one call consumes, each with the parts of its key. */
export type LimitSpec = readonly (readonly [LimitName, readonly KeyPart[]])[];

/**
 * A rate limit declared once, in its feature's `*.limits.ts`, and counted the same by every door: which
 * limits one call consumes, keyed from the call's input (what the service receives: GraphQL arguments
 * or a REST body, unchecked) and the client's address. It is handed the address already marked, never
 * the raw IP.
 */
export type LimitDeclaration<I = unknown> = (input: I, client: ClientAddress) => LimitSpec;

/** A member of a raw input, if it is an object (REST bodies are unchecked when limits run). */
export const fieldOf = (input: unknown, key: string): unknown =>
  input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[key] : undefined;
