// CPU per password sign-in and sign-up, by process: what a request costs beyond its bcrypt, where.
//   node bench/password-cpu.mjs [--cost=10] [--ops=signin,signup] [--doors=graphql,rest] [--duration=8]
//     [--connections=16] [--users=16] [--worker=false] [--cpuProf=<dir>]
// On a 2-core box every millisecond of non-bcrypt CPU, in any process, comes off the bcrypt rate: at
// ~45 hashes/s a sign-in has ~44 ms of core time, so 95% of the ceiling leaves ~2.3 ms for everything else.
// req/s on a shared box follow the neighbours; CPU per operation mostly does not. This bench runs its own
// Redis (a free port, no persistence) so the Redis column is ours alone, and counts only the PostgreSQL
// backends connected to the bench's database ("pg shared" = the cluster's walwriter, checkpointer and
// background writer: shared with anyone else using that cluster, an upper bound).
// Columns, µs per successful operation: api (the server process, bcrypt threads included), api − bcrypt
// (minus bcrypt's own CPU per operation, measured by bench/bcrypt-ceiling.mjs at the same cost just before),
// worker (with --worker=true: a separate src/worker.ts process delivering the mail), pg, pg shared, redis.
// Each row starts with a --warmup run; each row's CPU runs from its start until the background (relay,
// publisher, audit sealer, worker) has finished what it left, minus each process's idle rate (timers,
// sweeps; measured once before the first row) times that wall time: what the operations added.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import net from 'node:net';

const freePortEarly = () =>
  new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

// Our own Redis, before lib.mjs reads BENCH_REDIS_URL.
const redisPort = await freePortEarly();
const redisDir = await mkdtemp(join(tmpdir(), 'latchkey-bench-redis-'));
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
process.env.BENCH_REDIS_URL = `redis://127.0.0.1:${redisPort}`;

const lib = await import('./lib.mjs');
const { default: Redis } = await import('ioredis');
const pgLib = (await import('pg')).default;
/** Commands Redis ran, by name (INFO commandstats of our own Redis). */
async function redisCalls(r) {
  const out = {};
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}
/** Transactions committed in the bench's database (each statement outside BEGIN is one). */
async function pgCommits(url, name) {
  const c = new pgLib.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query('SELECT xact_commit FROM pg_stat_database WHERE datname = $1', [name])).rows[0].xact_commit);
  } finally {
    await c.end();
  }
}
const { args, bcryptCeiling, cpuSecondsOf, gqlRequest, load, log, main, onCleanup, PASSWORD, Q, registerUsers, startServer, table } = lib;

const opt = args({ cost: 10, ops: 'signin,signup', doors: 'graphql,rest', duration: 8, connections: 16, users: 16, worker: false, cpuProf: '', warmup: 3 });
onCleanup(async () => {
  redis.kill('SIGTERM');
  await new Promise((r) => redis.once('exit', r));
  await rm(redisDir, { recursive: true, force: true });
});

/** PostgreSQL processes: backends of `db` (by their title) and the cluster's shared helpers. */
function pgPids(db) {
  const mine = [];
  const shared = [];
  for (const d of lib.processCpu ? Object.keys(lib.processCpu()) : []) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (!cmd.startsWith('postgres:')) continue;
    if (cmd.includes(` ${db} `)) mine.push(Number(d));
    else if (/walwriter|checkpointer|background writer/.test(cmd)) shared.push(Number(d));
  }
  return { mine, shared };
}

/** Waits until the processes of `groups` use < 0.03 cores over half a second (at most 20 s). */
async function settled(groups) {
  const until = Date.now() + 20_000;
  for (;;) {
    const a = snapshot(groups);
    await new Promise((r) => setTimeout(r, 500));
    const b = snapshot(groups);
    const used = Object.keys(groups).filter((k) => k !== 'client').reduce((x, k) => x + (b[k] - a[k]), 0) / 0.5;
    if (used < 0.03 || Date.now() > until) return;
  }
}

function snapshot(groups) {
  return Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((a, p) => a + (cpuSecondsOf(p) || 0), 0)]));
}

const post = (path, body, extra = {}) => ({ method: 'POST', path, headers: lib.JSON_HEADERS, body: JSON.stringify(body), ...extra });
let seq = 0;
const identity = (tag) => ({ username: `${tag}x${seq++}`, email: `${tag}x${seq}@example.com`, password: PASSWORD });
const requestsOf = {
  signin: {
    graphql: (users) => users.map((u) => gqlRequest(Q.login, { i: { identifier: u.username, password: PASSWORD } })),
    rest: (users) => users.map((u) => post('/auth/login', { identifier: u.username, password: PASSWORD })),
  },
  signup: {
    graphql: () => [{ ...gqlRequest(Q.register, { i: {} }), setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: Q.register, variables: { i: identity('g') } }) }) }],
    rest: () => [post('/auth/register', {}, { setupRequest: (req) => ({ ...req, body: JSON.stringify(identity('r')) }) })],
  },
};

await main(async () => {
  const cost = Number(opt.cost);
  const profDir = (who) => (opt.cpuProf ? (mkdirSync(join(opt.cpuProf, who), { recursive: true }), ['--cpu-prof', `--cpu-prof-dir=${join(opt.cpuProf, who)}`]) : []);
  const server = await startServer({ bcryptCost: cost, worker: opt.worker === true || opt.worker === 'true', nodeArgs: profDir('api'), workerNodeArgs: profDir('worker') });
  const ceiling = await bcryptCeiling(cost, { duration: 4 });
  // bcrypt's CPU per hash (its threads, in the ceiling process).
  const bcryptUs = ((ceiling.cores * ceiling.seconds) / ceiling.ops) * 1e6;
  log(`ceiling ${ceiling.opsPerSec}/s at cost ${cost}, bcrypt ${bcryptUs.toFixed(0)} µs CPU per hash, other ${ceiling.otherCores}`);
  const redisClient = new Redis(process.env.BENCH_REDIS_URL);
  onCleanup(() => redisClient.quit());
  const users = await registerUsers(server.base, Number(opt.users), { tag: 'pc' });
  const apiPid = server.child.pid;
  const groups0 = { api: [server.child.pid], ...(server.worker ? { worker: [server.worker.child.pid] } : {}), redis: [redis.pid], client: [process.pid] };
  await settled(groups0);
  // each process's idle rate (timers, polls, sweeps), taken off each row's wall time
  const i0 = snapshot(groups0);
  const ti = performance.now();
  await new Promise((r) => setTimeout(r, 4000));
  const i1 = snapshot(groups0);
  const idleRate = Object.fromEntries(Object.keys(groups0).map((k) => [k, k === 'client' ? 0 : (i1[k] - i0[k]) / ((performance.now() - ti) / 1000)]));
  idleRate.pg = 0;
  idleRate['pg shared'] = 0;
  log(`idle cores: ${JSON.stringify(idleRate)}`);
  const rows = [];
  for (const op of String(opt.ops).split(',')) {
    for (const door of String(opt.doors).split(',')) {
      // warm-up (JIT, pools), then the background finishes what it left
      await load(server.base, { requests: requestsOf[op][door](users), connections: Number(opt.connections), duration: Number(opt.warmup) });
      await settled(groups0);
      const pg = pgPids(server.db.name);
      const groups = { ...groups0, pg: pg.mine, 'pg shared': pg.shared };
      const rc0 = await redisCalls(redisClient);
      const x0 = await pgCommits(lib.PG_ADMIN_URL, server.db.name);
      const machine0 = lib.processCpu().machine?.cpu ?? 0;
      const c0 = snapshot(groups);
      const js0 = cpuSecondsOf(apiPid, apiPid);
      const t0 = performance.now();
      const r = await load(server.base, { requests: requestsOf[op][door](users), connections: Number(opt.connections), duration: Number(opt.duration), settle: 0 });
      // the background (relay, publisher, sealer, worker) finishes what the run left
      await settled(groups0);
      const pgAfter = pgPids(server.db.name);
      groups.pg = [...new Set([...pg.mine, ...pgAfter.mine])];
      const c1 = snapshot(groups);
      const js1 = cpuSecondsOf(apiPid, apiPid);
      await new Promise((res) => setTimeout(res, 1200)); // PostgreSQL flushes its counters about once a second
      const rc1 = await redisCalls(redisClient);
      const x1 = await pgCommits(lib.PG_ADMIN_URL, server.db.name);
      // our own probes: one INFO and one pg_stat_database read each side
      const redisOps = Object.fromEntries(Object.entries(rc1).map(([k, v]) => [k, v - (rc0[k] ?? 0) - (k === 'info' ? 1 : 0)]).filter(([, v]) => v > 0));
      const redisTotal = Object.values(redisOps).reduce((a, b) => a + b, 0);
      const wall = (performance.now() - t0) / 1000;
      const machine = (lib.processCpu().machine?.cpu ?? 0) - machine0;
      const per = (k) => ((c1[k] - (c0[k] ?? 0) - idleRate[k] * wall) / r.ok) * 1e6;
      const ours = Object.keys(groups).reduce((a, k) => a + (c1[k] - (c0[k] ?? 0)), 0);
      const row = {
        op: `${op} (${door})`,
        'ok/s': r.rps,
        'of ceiling': `${((r.rps / ceiling.opsPerSec) * 100).toFixed(0)}%`,
        'api µs': per('api').toFixed(0),
        'api − bcrypt µs': (per('api') - bcryptUs).toFixed(0),
        // the event-loop thread alone (our JavaScript, I/O, JSON); the rest of api − bcrypt is GC helpers
        // and bcrypt running slower than in the ceiling process (shared cores, caches)
        'api js µs': (((js1 - js0) / r.ok) * 1e6).toFixed(0),
        ...(server.worker ? { 'worker µs': per('worker').toFixed(0) } : {}),
        'pg µs': per('pg').toFixed(0),
        'pg shared µs': per('pg shared').toFixed(0),
        'redis µs': per('redis').toFixed(0),
        'client µs': per('client').toFixed(0),
        'pg commits/op': ((x1 - x0) / r.ok).toFixed(2),
        'redis cmds/op': (redisTotal / r.ok).toFixed(2),
        'other cores': Math.max(0, (machine - ours) / wall).toFixed(2),
        failed: r.failed,
      };
      rows.push(row);
      log(`redis commands per ${op} (${door}): ${Object.entries(redisOps).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / r.ok).toFixed(2)}`).join(', ')}`);
      log(JSON.stringify(row));
    }
  }
  process.stdout.write(`\nBCRYPT_COST=${cost}, idle api ${idleRate.api.toFixed(3)} cores${server.worker ? `, worker ${idleRate.worker.toFixed(3)}` : ''}, ceiling ${ceiling.opsPerSec}/s (bcrypt ${bcryptUs.toFixed(0)} µs CPU per hash), ${opt.connections} connections, ${opt.duration} s per row\n\n${table(rows)}\n`);
  await server.stop();
});
