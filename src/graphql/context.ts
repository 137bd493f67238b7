import type { FastifyBaseLogger } from 'fastify';
import type { RequestMeta } from '../http/request-meta.js';

/** What every resolver receives, over HTTP and WebSocket alike. */
export interface GraphQLContext {
  readonly log: FastifyBaseLogger;
  readonly meta: RequestMeta;
  /** The raw `Authorization` value (HTTP header or `connectionParams.authorization`); verified lazily by the auth guard. */
  readonly authorization: string | undefined;
}
