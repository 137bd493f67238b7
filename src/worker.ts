import 'reflect-metadata';
import { buildServices, startRelay, startWorkers } from './composition.js';
import { runProcess } from './infra/process.js';
import { startInfra } from './infra/runtime.js';
import { startMetricsListener, type MetricsListener } from './modules/health/metrics-endpoint.js';

/**
 * Worker entry point: the same wiring as the API, no API port. Run any number of them. With METRICS_PORT
 * set it serves its own `/metrics` there (email and job counters live in the process that runs the jobs).
 */
await runProcess('worker', async (config, log) => {
  const infra = await startInfra(config, log);
  let metricsListener: MetricsListener | undefined;
  try {
    const services = buildServices(infra);
    metricsListener = await startMetricsListener(config, infra.metrics.registry, log);
    const relay = await startRelay(services);
    const workers = await startWorkers(infra, services);
    log.info({ metrics: metricsListener?.url ?? null }, 'latchkey worker is ready');
    const scrape = metricsListener;
    return {
      async stop() {
        await relay.stop();
        await workers.close();
        await scrape?.close(1_000);
        await infra.close();
      },
    };
  } catch (e) {
    await metricsListener?.close(0);
    await infra.close();
    throw e;
  }
});
