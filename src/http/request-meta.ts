import type { FastifyRequest } from 'fastify';

/** Who is asking, as the services see it: never the raw request. */
export interface RequestMeta {
  readonly requestId: string;
  /** Socket address, or the X-Forwarded-For client only when TRUST_PROXY names the proxy (Fastify's trustProxy). */
  readonly ip: string;
  readonly userAgent: string | null;
}

const MAX_USER_AGENT = 512;

export function requestMeta(req: FastifyRequest): RequestMeta {
  const ua = req.headers['user-agent'];
  return {
    requestId: req.id,
    ip: req.ip,
    userAgent: typeof ua === 'string' && ua.length > 0 ? ua.slice(0, MAX_USER_AGENT) : null,
  };
}
