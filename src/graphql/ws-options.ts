import type { IncomingMessage, Server } from 'node:http';
import type { GraphQLSchema, ValidationRule } from 'graphql';
import type { WebSocketServer } from 'ws';
import type { Authenticated, TokenAuthenticated } from '../core/request.js';
import type { Logger } from '../infra/logger.js';
import type { Limits } from '../infra/rate-limit.js';
import type { PubSubLink } from '../infra/pubsub.js';

/** Close codes a client can act on (graphql-ws uses 44xx for protocol-level refusals). */
export const WS_CLOSE = {
  unauthorized: 4401, // missing, bad or expired token, the session ended, or the access token expired un-renewed: sign in again
  forbiddenOrigin: 4403,
  tooManyConnections: 4429,
  rateLimited: 4008, // the per-IP request budget is spent: reconnect after the seconds the reason gives
  unavailable: 1013, // try again later (Redis or PostgreSQL unreachable)
  tooSlow: 1013, // try again later: the client read too slowly and its send buffer passed the cap
  goingAway: 1001,
} as const;

/** A subscribe refused because the socket already carries the most it may (see README). */
export const TOO_MANY_SUBSCRIPTIONS = 'TOO_MANY_SUBSCRIPTIONS';

/** Per-socket bounds: fixed (what one client needs is far below them), not settings. */
export const WS_DEFAULTS = {
  /** Active subscriptions on one socket. */
  maxSubscriptionsPerSocket: 10,
  /** Subscribe messages one socket may send per window. */
  subscribeRate: { points: 30, windowSeconds: 60 },
  /** Bytes queued for a client that reads too slowly before the socket closes with 1013. */
  maxBufferedBytes: 1024 * 1024,
  /** Protocol-level ping every so often; a socket that does not answer within as long is cut. */
  keepAliveMs: 12_000,
} as const;

export interface WsOptions {
  server: Server;
  schema: GraphQLSchema;
  log: Logger;
  /** Verifies `connectionParams.authorization` (signature and live session), and a re-authenticating ping's. */
  authenticate(authorization: string | undefined): Promise<TokenAuthenticated>;
  /** Re-checks a session when its known lifetime runs out (it may have been refreshed meanwhile). */
  recheck(principal: Authenticated): Promise<Authenticated>;
  /** Sessions ending anywhere (any instance): their sockets close here. */
  sessionEnded: AsyncIterableIterator<{ sessionId: string; reason: string }>;
  /**
   * The pub/sub's subscriber connection. While it is down nothing published reaches this instance, so no
   * socket is admitted, and when it drops every socket closes with 1013: the client reconnects and pages
   * what it missed (and a session ended meanwhile is checked again at the reconnect).
   */
  pubSubLink?: PubSubLink;
  isAllowedOrigin(origin: string): boolean;
  /** The client's address for an upgrade request, by the same TRUST_PROXY rules as HTTP requests. */
  clientIp(request: IncomingMessage): string;
  limits: Limits;
  /** Extra validation rules (depth, cost, aliases) shared with the HTTP door. */
  rules?: readonly ValidationRule[];
  maxPayloadBytes?: number;
  maxConnectionsPerUser?: number;
  maxSubscriptionsPerSocket?: number;
  subscribeRate?: { points: number; windowSeconds: number };
  maxBufferedBytes?: number;
  keepAliveMs?: number;
}

export interface GraphQLWsServer {
  readonly wss: WebSocketServer;
  /** Open authenticated sockets on this instance. */
  readonly connections: number;
  /** Subscription delivery groups on this instance: each runs one execution per event for all its sockets. */
  readonly deliveryGroups: number;
  /** Closes every socket with 1001 (going away) and stops accepting new ones. */
  close(): Promise<void>;
}
