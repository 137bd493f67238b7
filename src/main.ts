import 'reflect-metadata';
import { buildApp } from './app.js';
import { appDeps, buildServices, startRelay, startWorkers, warmUp } from './composition.js';
import { runProcess } from './infra/process.js';
import { startInfra } from './infra/runtime.js';

/**
 * API entry point: config -> infra -> services -> GraphQL + REST doors -> listen.
 * `--role=api` runs the API alone; by default the BullMQ workers run in the same process.
 */
const role = process.argv.includes('--role=api') ? 'api' : 'all';

await runProcess(role, async (config, log) => {
  const infra = await startInfra(config, log);
  try {
    const services = buildServices(infra);
    await warmUp(services);
    const app = await buildApp(appDeps(infra, services));
    const address = await app.fastify.listen({ port: config.http.port, host: config.http.host });
    const relay = await startRelay(services);
    const workers = role === 'all' ? await startWorkers(infra, services) : undefined;
    log.info(
      { address, graphql: `${config.http.publicUrl}/graphql`, graphiql: config.http.graphiql, workers: !!workers },
      'latchkey is ready',
    );
    return {
      async stop() {
        // HTTP first (no new work), then let running jobs finish, then release pools.
        await app.close(5_000);
        await relay.stop();
        await workers?.close();
        await infra.close();
      },
    };
  } catch (e) {
    await infra.close();
    throw e;
  }
});
