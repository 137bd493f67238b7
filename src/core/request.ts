/**
 * Who is asking and on whose behalf, as every layer sees it: the doors (HTTP, GraphQL, WebSocket) build
 * these from their own requests, services read them. Nothing here knows a transport.
 */

/** Who is asking, as the services see it: never the raw request. */
export interface RequestMeta {
  readonly requestId: string;
  /** Socket address, or the X-Forwarded-For client only when TRUST_PROXY names the proxy (Fastify's trustProxy). */
  readonly ip: string;
  readonly userAgent: string | null;
}

/**
 * What an account may do beyond its own affairs (the database's and GraphQL's `Role`): each role holds
 * the ones before it, so an ADMIN passes every SUPPORT check.
 */
export type Role = 'USER' | 'SUPPORT' | 'ADMIN';

/** Who an authenticated call is made by. */
export interface Principal {
  readonly userId: string;
  readonly sessionId: string;
}

/** An authenticated call, and until when (epoch ms) its session is known to be live. */
export interface Authenticated extends Principal {
  readonly liveUntil: number;
  /** The account's role as stored now (read with the session on every call), never taken from the token. */
  readonly role: Role;
}

/** A call authenticated by an access token, and until when (epoch ms) that token is valid. */
export interface TokenAuthenticated extends Authenticated {
  readonly accessTokenExpiresAt: number;
}

/**
 * The HTTP request and response around a call, as the doors that deal in cookies see them (the refresh
 * cookie of cookie-mode sessions): the request's headers, and a way to add a `Set-Cookie` to the answer.
 * Absent on WebSocket operations.
 */
export interface HttpExchange {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Adds one `Set-Cookie` header (several may be set). */
  setCookie(header: string): void;
}
