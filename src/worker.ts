import 'reflect-metadata';
import { buildServices, startRelay, startWorkers } from './composition.js';
import { runProcess } from './infra/process.js';
import { startInfra } from './infra/runtime.js';

/** Worker entry point: the same wiring as the API, no HTTP. Run any number of them. */
await runProcess('worker', async (config, log) => {
  const infra = await startInfra(config, log);
  try {
    const services = buildServices(infra);
    const relay = await startRelay(services);
    const workers = await startWorkers(infra, services);
    log.info('latchkey worker is ready');
    return {
      async stop() {
        await relay.stop();
        await workers.close();
        await infra.close();
      },
    };
  } catch (e) {
    await infra.close();
    throw e;
  }
});
