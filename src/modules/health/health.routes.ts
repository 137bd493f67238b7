import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { HealthService } from './health.service.js';

/** Probes and metrics for orchestrators and operators; none of them touches the auth rules. */
export function healthRoutes(health: HealthService, registry: Registry) {
  return async (app: FastifyInstance) => {
    app.get('/healthz', { config: { probe: true } }, async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
    app.get('/readyz', { config: { probe: true } }, async (_req, reply) => {
      const r = await health.readiness();
      return reply
        .code(r.ready ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: r.ready ? 'ready' : 'unavailable', checks: r.checks });
    });
    app.get('/metrics', { config: { probe: true } }, async (_req, reply) =>
      reply.header('content-type', registry.contentType).send(await registry.metrics()),
    );
  };
}
