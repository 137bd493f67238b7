import type { FastifyRequest } from 'fastify';
import type { LimitSpec } from '../infra/limit-spec.js';
import type { Limits } from '../infra/rate-limit.js';

/** The REST door's half of a field limit: the same spec, the same counters, before the handler runs. */
export const rateLimited = (limits: Limits, spec: (req: FastifyRequest) => LimitSpec) => async (req: FastifyRequest) => {
  for (const [name, parts] of spec(req)) await limits.consume(name, parts);
};
