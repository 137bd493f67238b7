import type { FastifyBaseLogger } from 'fastify';
import type { Principal } from '../modules/sessions/sessions.service.js';
import type { RequestMeta } from '../http/request-meta.js';

/** What every resolver receives, over HTTP and WebSocket alike. */
export interface GraphQLContext {
  readonly log: FastifyBaseLogger;
  readonly meta: RequestMeta;
  /** The raw `Authorization` value (HTTP header or `connectionParams.authorization`); verified lazily by the auth guard. */
  readonly authorization: string | undefined;
  /** Set on WebSocket operations: the socket was authenticated once, at `connection_init`. */
  readonly principal?: Principal;
}
