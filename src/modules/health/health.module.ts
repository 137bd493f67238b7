import { resolver, type Feature } from '../feature.js';
import { HealthResolver } from './health.resolver.js';
import type { HealthService } from './health.service.js';

/** Readiness as a query (the probes and /metrics are the app's own routes, outside /auth). */
export const healthModule: Feature<{ health: HealthService }> = {
  name: 'health',
  resolvers: [resolver(HealthResolver, (w) => new HealthResolver(w.health))],
};
