import 'reflect-metadata';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from './app.js';
import { appDeps, buildServices } from './composition.js';
import { loadConfig } from './infra/config.js';
import { createLogger } from './infra/logger.js';
import { startInfra } from './infra/runtime.js';

/**
 * `npm run openapi:emit -- <file>`: writes the OpenAPI document the app serves at GET /openapi.json, for
 * linting (`npm run openapi:lint`). It builds the whole app, as `npm start` would, against the Redis and
 * PostgreSQL of REDIS_URL and DATABASE_URL (defaults: the local ones CI starts) without touching either
 * beyond connecting, with throw-away development secrets. The document comes from the routes' own
 * declarations, so nothing here describes a route.
 */
const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: openapi-cli.ts <output file>\n');
  process.exit(2);
}
const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-openapi-'));
try {
  const config = loadConfig({
    NODE_ENV: 'development',
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: 'latchkey-openapi:',
    PUBLIC_URL: process.env.PUBLIC_URL ?? 'http://localhost:4000',
    DATA_DIR: dataDir,
    GRAPHIQL: 'false',
    LOG_LEVEL: 'warn',
  });
  const log = createLogger({ level: config.log.level });
  const infra = await startInfra(config, log, { migrate: false });
  try {
    const app = await buildApp(appDeps(infra, buildServices(infra)));
    const res = await app.fastify.inject({ method: 'GET', url: '/openapi.json' });
    if (res.statusCode !== 200) throw new Error(`GET /openapi.json answered ${res.statusCode}: ${res.body}`);
    await writeFile(out, `${JSON.stringify(res.json(), null, 2)}\n`);
    await app.close(0);
  } finally {
    await infra.close();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
