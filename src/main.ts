import 'reflect-metadata';
import { buildApp } from './app.js';
import { appDeps, buildServices, prepareStart, startRelay, startWorkers, warmUp } from './composition.js';
import { runProcess } from './infra/process.js';
import { startInfra } from './infra/runtime.js';
import { startMetricsListener, type MetricsListener } from './modules/health/metrics-endpoint.js';

/**
 * API entry point: config -> infra -> services -> GraphQL + REST doors -> listen.
 * `--role=api` runs the API alone; by default the BullMQ workers run in the same process.
 */
const role = process.argv.includes('--role=api') ? 'api' : 'all';

await runProcess(role, async (config, log) => {
  const infra = await startInfra(config, log);
  let metricsListener: MetricsListener | undefined;
  try {
    const services = buildServices(infra);
    await warmUp(services);
    await prepareStart(services);
    const app = await buildApp(appDeps(infra, services));
    // METRICS_PORT: /metrics on a listener of its own (the API port then serves none).
    metricsListener = await startMetricsListener(config, infra.metrics.registry, log);
    const address = await app.fastify.listen({ port: config.http.port, host: config.http.host });
    const relay = await startRelay(services);
    const workers = role === 'all' ? await startWorkers(infra, services) : undefined;
    log.info(
      { address, graphql: `${config.http.publicUrl}/graphql`, graphiql: config.http.graphiql, workers: !!workers, metrics: metricsListener?.url ?? `${address}/metrics` },
      'latchkey is ready',
    );
    const scrape = metricsListener;
    return {
      async stop() {
        // HTTP first (no new work), then let running jobs finish, then release pools; metrics last, so
        // the drain itself stays observable.
        await app.close(5_000);
        await relay.stop();
        await workers?.close();
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
