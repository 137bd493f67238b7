import type { FastifyInstance } from 'fastify';
import type { HealthService } from './health.service.js';
import { METRICS_PATH, type MetricsEndpoint } from './metrics-endpoint.js';

/**
 * Probes and metrics for orchestrators and operators; none of them touches the auth rules. Without
 * `metrics` (METRICS_PORT set: a listener of its own serves them) this port has no `/metrics`.
 */
export function healthRoutes(health: HealthService, metrics?: MetricsEndpoint) {
  return async (app: FastifyInstance) => {
    app.get('/healthz', { config: { probe: true } }, async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
    app.get('/readyz', { config: { probe: true } }, async (_req, reply) => {
      const r = await health.readiness();
      return reply
        .code(r.ready ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: r.ready ? 'ready' : 'unavailable', checks: r.checks });
    });
    if (metrics) {
      app.get(METRICS_PATH, { config: { probe: true } }, async (req, reply) => {
        const answer = await metrics.answer(req.headers.authorization);
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      });
    }
  };
}
