import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import type { HealthService } from './health.service.js';
import { METRICS_PATH, type MetricsEndpoint } from './metrics-endpoint.js';

/**
 * Probes and metrics for orchestrators and operators; none of them touches the auth rules. Without
 * `metrics` (METRICS_PORT set: a listener of its own serves them) this port has no `/metrics`.
 */
export function healthRoutes(health: HealthService, metrics?: MetricsEndpoint) {
  return async (app: FastifyInstance) => {
    app.get('/healthz', { config: { probe: true, api: API.healthz } }, async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
    app.get('/readyz', { config: { probe: true, api: API.readyz } }, async (_req, reply) => {
      const r = await health.readiness();
      return reply
        .code(r.ready ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: r.ready ? 'ready' : 'unavailable', checks: r.checks });
    });
    if (metrics) {
      app.get(METRICS_PATH, { config: { probe: true, api: API.metrics } }, async (req, reply) => {
        const answer = await metrics.answer(req.headers.authorization);
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      });
    }
  };
}

const state = z.enum(['up', 'down']);
const readiness = z.object({ status: z.enum(['ready', 'unavailable']), checks: z.object({ postgres: state, redis: state }) });

/** OpenAPI declarations of the probes (src/http/openapi.ts). */
const API = {
  healthz: {
    summary: 'Alive: the process runs',
    tags: ['probes'],
    security: 'none',
    responses: { 200: { description: 'Always, while the process runs', schema: z.object({ status: z.literal('ok') }) } },
  },
  readyz: {
    summary: 'Ready: PostgreSQL and Redis answer',
    tags: ['probes'],
    security: 'none',
    responses: { 200: { description: 'Both answer', schema: readiness }, 503: { description: 'What is down', schema: readiness } },
  },
  metrics: {
    summary: 'Prometheus metrics (with METRICS_TOKEN set, only for Authorization: Bearer <METRICS_TOKEN>)',
    tags: ['probes'],
    security: 'none',
    responses: { 200: { description: 'Prometheus text format', mediaType: 'text/plain', schema: z.string() } },
    errors: ['UNAUTHENTICATED'],
  },
} as const satisfies Record<string, ApiDoc>;
