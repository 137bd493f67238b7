import type { FastifyRequest } from 'fastify';
import { byAddress, type LimitDeclaration } from '../infra/limit-spec.js';
import type { Limits } from '../infra/rate-limit.js';
import { requestMeta } from './request-meta.js';

/**
 * The REST door's half of a declared limit: the same declaration as the GraphQL field's, the same
 * counters, before the handler runs. `input` picks what the service will receive (the body by default).
 */
export const rateLimited =
  (limits: Limits, limit: LimitDeclaration, input: (req: FastifyRequest) => unknown = (req) => req.body) =>
  async (req: FastifyRequest) => {
    for (const [name, parts] of limit(input(req), byAddress(req.ip))) await limits.consume(name, parts, requestMeta(req));
  };
