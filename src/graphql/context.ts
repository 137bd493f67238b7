import type { FastifyBaseLogger } from 'fastify';
import type { Limits } from '../infra/rate-limit.js';
import type { HttpExchange, Principal, RequestMeta } from '../core/request.js';

/** What every resolver receives, over HTTP and WebSocket alike. */
export interface GraphQLContext {
  readonly log: FastifyBaseLogger;
  readonly meta: RequestMeta;
  /** The raw `Authorization` value (HTTP header or `connectionParams.authorization`); verified lazily by the auth guard. */
  readonly authorization: string | undefined;
  /** The shared rate limits, for per-field limits (`@RateLimited`) and the general budget. */
  readonly limits: Limits;
  /**
   * General-budget points the door already charged for this request (HTTP: one per request); the first
   * root fields spend them instead of charging again, so a one-field request pays one point in all.
   */
  readonly generalPrepaid?: { points: number };
  /** Over HTTP: the request's headers and its answer's cookies (cookie-mode sessions). */
  readonly http?: HttpExchange;
  /** Over HTTP: receives the operation's root field label (a bounded value) for the request's access-log line. */
  readonly noteOperation?: (label: string) => void;
  /** Set on WebSocket operations: the socket was authenticated once, at `connection_init`. */
  readonly principal?: Principal;
}
