// Refresh-token rotation throughput, GraphQL `refresh` and REST `POST /auth/refresh`, each request with
// its own unused token from a pool seeded straight into PostgreSQL; `{ __typename }` as the baseline.
//   node bench/refresh.mjs [--connections=50] [--duration=8] [--pool=60000] [--warmup=2] [--rest=true]
// Target: >= 2,000 refreshes/s.
import { args, fmtCpu, gqlRequest, load, log, main, pct, poolCursor, Q, report, seedSessionsSql, startServer, table } from './lib.mjs';

const opt = args({ connections: 50, duration: 8, pool: 60_000, warmup: 2, rest: true, baseline: true, cpuProf: '' });
const TARGET = 2000;

const gqlRefresh = (cursor) => ({
  ...gqlRequest(Q.refresh, { t: '' }),
  setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: Q.refresh, variables: { t: cursor.next() } }) }),
});
const restRefresh = (cursor) => ({
  method: 'POST',
  path: '/auth/refresh',
  headers: { 'content-type': 'application/json' },
  body: '{}',
  setupRequest: (req) => ({ ...req, body: JSON.stringify({ refreshToken: cursor.next() }) }),
});

await main(async () => {
  const server = await startServer({
    bcryptCost: 4,
    nodeArgs: opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}`] : [],
  });
  const warmN = Math.ceil(opt.pool / 6);
  const total = warmN + opt.pool * (opt.rest ? 2 : 1);
  log(`seeding ${total} sessions with unused refresh tokens (SQL)`);
  const t0 = performance.now();
  const { tokens } = await seedSessionsSql(server.db.url, { users: 100, sessions: total });
  log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  const warmPool = poolCursor(tokens.slice(0, warmN));
  const gqlPool = poolCursor(tokens.slice(warmN, warmN + opt.pool));
  const restPool = poolCursor(tokens.slice(warmN + opt.pool));
  const common = { connections: opt.connections, duration: opt.duration };

  log(`warm-up ${opt.warmup}s`);
  await load(server.base, { connections: opt.connections, duration: opt.warmup, requests: [gqlRefresh(warmPool)] });
  const results = {};
  if (opt.baseline) {
    log('baseline { __typename }');
    results.typename = await load(server.base, { ...common, requests: [gqlRequest(Q.typename)], label: '{ __typename }', quiet: true, serverPid: server.child.pid });
  }
  log(`GraphQL refresh ${opt.connections} connections x ${opt.duration}s`);
  results.graphql = { ...(await load(server.base, { ...common, requests: [gqlRefresh(gqlPool)], label: 'GraphQL refresh', quiet: true, serverPid: server.child.pid })), poolUsed: gqlPool.used, poolExhausted: gqlPool.exhausted };
  if (opt.rest) {
    log(`REST /auth/refresh ${opt.connections} connections x ${opt.duration}s`);
    results.rest = { ...(await load(server.base, { ...common, requests: [restRefresh(restPool)], label: 'REST /auth/refresh', quiet: true, serverPid: server.child.pid })), poolUsed: restPool.used, poolExhausted: restPool.exhausted };
  }
  await server.stop();

  const rows = Object.values(results).map((r) => ({
    path: r.label,
    'req/s': r.rps,
    'p50 ms': r.p50,
    'p99 ms': r.p99,
    failed: r.failed,
    'vs target 2,000/s': r.label.includes('refresh') ? `${pct(r.rps / TARGET)} ${r.rps >= TARGET ? 'pass' : 'MISS'}` : '',
    'vs __typename': results.typename ? pct(r.rps / results.typename.rps) : '',
    'tokens used': r.poolUsed ?? '',
    'cores used': fmtCpu(r.cpu),
  }));
  for (const r of Object.values(results)) {
    if (r.failures) log(`failures (${r.label}): ${JSON.stringify(r.failures)}`);
    if (r.poolExhausted) log(`WARNING: ${r.label} ran out of tokens: raise --pool`);
  }
  report('refresh', `${opt.connections} connections, ${opt.duration}s per run, one unused token per request\n\n${table(rows)}`, {
    ...results,
    target: TARGET,
    pass: results.graphql.rps >= TARGET && (!results.rest || results.rest.rps >= TARGET),
  });
});
