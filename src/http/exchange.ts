import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpExchange } from '../core/request.js';

/** A Fastify request and its reply as the doors that set or read cookies see them. */
export function httpExchange(req: FastifyRequest, reply: FastifyReply): HttpExchange {
  return {
    headers: req.headers,
    // Fastify appends to `set-cookie` rather than replacing it, so several cookies can be set.
    setCookie: (header) => void reply.header('set-cookie', header),
  };
}
