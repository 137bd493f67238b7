import type { FastifyRequest } from 'fastify';
import type { RequestMeta } from '../core/request.js';

const MAX_USER_AGENT = 512;

/** What the services see of an HTTP request: its id, the client's address and a bounded User-Agent. */
export function requestMeta(req: FastifyRequest): RequestMeta {
  const ua = req.headers['user-agent'];
  return {
    requestId: req.id,
    ip: req.ip,
    userAgent: typeof ua === 'string' && ua.length > 0 ? ua.slice(0, MAX_USER_AGENT) : null,
  };
}
