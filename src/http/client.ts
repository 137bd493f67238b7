import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { Config } from '../infra/config.js';

// Who a client is, by the same rules on every listener: its address behind TRUST_PROXY, and its origin.

/** The client address of a raw request (the WebSocket upgrade) by the rules Fastify applies to HTTP requests. */
export function clientIpOf(trust: Config['http']['trustProxy']): (req: IncomingMessage) => string {
  if (trust === false) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trusted = trust === true ? () => true : proxyAddr.compile([...trust]);
  return (req) => proxyAddr(req, trusted);
}

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/**
 * CORS_ORIGINS as a predicate (development default: any localhost origin). The server's own origin
 * (PUBLIC_URL's) is always allowed: GraphiQL's subscriptions open a WebSocket from it.
 */
export function originChecker(allowed: Config['http']['corsOrigins'], publicUrl?: string): (origin: string) => boolean {
  const own = publicUrl === undefined ? undefined : new URL(publicUrl).origin;
  if (allowed === 'localhost') return (origin) => origin === own || LOCALHOST_ORIGIN.test(origin);
  const set = new Set(allowed);
  return (origin) => origin === own || set.has(origin);
}
