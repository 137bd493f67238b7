// Shared plumbing of the Latchkey benchmarks: a throw-away database, Redis prefix and data dir per
// run, the API server as a child process, seeding helpers, and autocannon wrapped as a promise.
// Everything targets loopback only. Nothing here imports src/: the server is exercised over HTTP.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The checkout whose server is measured: this one, or BENCH_ROOT (e.g. a patched copy to compare against). */
export const SERVER_ROOT = process.env.BENCH_ROOT ? resolve(process.env.BENCH_ROOT) : ROOT;
export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Long, unguessable by zxcvbn, and the same for every seeded account. */
export const PASSWORD = 'violet-anchor-Quasar-7-drizzle-43!';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// command line: --name=value flags with defaults
// ---------------------------------------------------------------------------------------------

/** `--duration=8 --runs=3` → { duration: 8, runs: 3 }; numbers parsed, lists kept as strings. */
export function args(defaults) {
  const out = { ...defaults };
  for (const a of process.argv.slice(2)) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const [, k, v = 'true'] = m;
    out[k] = v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v === 'false' ? false : v === 'true' ? true : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// cleanup registry: every resource we create is released on success, failure and Ctrl-C
// ---------------------------------------------------------------------------------------------

const cleanups = [];
let cleaning;
export function onCleanup(fn) {
  cleanups.push(fn);
}
export function cleanupAll() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`bench cleanup: ${e?.message ?? e}\n`);
      }
    }
    cleaning = undefined;
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: cleaning up...\n`);
    cleanupAll().finally(() => process.exit(130));
  });
}

/** Runs a benchmark main, cleaning up whatever it left and exiting non-zero on error. */
export async function main(fn) {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exitCode = 1;
  } finally {
    await cleanupAll();
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL database and Redis prefix
// ---------------------------------------------------------------------------------------------

function dbUrl(name) {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createDatabase() {
  const name = `latchkey_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  onCleanup(() => dropDatabase(name));
  return { name, url: dbUrl(name) };
}

export async function dropDatabase(name) {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** SCAN + DEL of every key under the prefix (queues and channels included). */
export async function deleteRedisPrefix(prefix) {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// the server under test
// ---------------------------------------------------------------------------------------------

export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Rate limits high enough never to trigger under a benchmark (`points/seconds`). */
export const BENCH_LIMITS = Object.fromEntries(
  ['RATE_LIMIT_LOGIN', 'RATE_LIMIT_LOGIN_IP', 'RATE_LIMIT_REGISTER', 'RATE_LIMIT_REFRESH', 'RATE_LIMIT_GENERAL', 'RATE_LIMIT_INTROSPECT'].map((k) => [k, '1000000/60']),
);

/** Spawns `node [nodeArgs] --import tsx <script> [scriptArgs]` in SERVER_ROOT; keeps the last 20 kB of its output. */
/**
 * BENCH_DIST=1: run the built JavaScript (`dist/<script>.js`, from `npm run build`), as the Docker image and
 * `npm run start:prod` do, instead of the TypeScript under tsx (which compiles every module in the process
 * and keeps its compiler, source maps and module cache resident).
 */
export const benchDist = () => process.env.BENCH_DIST === '1';

/** Builds dist/ for BENCH_DIST (tsc, as `npm run build`), unless `BENCH_DIST_BUILT=1` says it is fresh. */
export async function buildDist() {
  if (!benchDist() || process.env.BENCH_DIST_BUILT === '1') return;
  log('BENCH_DIST=1: building dist/ (npm run build)');
  await new Promise((res, rej) =>
    execFile('npm', ['run', 'build'], { cwd: SERVER_ROOT }, (err, _out, stderr) => (err ? rej(new Error(`npm run build failed: ${stderr}`)) : res())),
  );
  process.env.BENCH_DIST_BUILT = '1';
}

/**
 * The node flags of `npm run start:prod` in SERVER_ROOT's package.json (the Docker image sets the same as
 * NODE_OPTIONS; `npm run containers:check` holds the two together): BENCH_DIST runs start with them, as
 * deployed, unless BENCH_PROD_FLAGS=0 (bench/memory.mjs compares flag sets of its own).
 */
export function productionNodeFlags() {
  if (!benchDist() || process.env.BENCH_PROD_FLAGS === '0') return [];
  const script = JSON.parse(readFileSync(join(SERVER_ROOT, 'package.json'), 'utf8')).scripts?.['start:prod'] ?? '';
  return (/^node((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/main\.js$/.exec(script)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

function spawnServerProcess(script, scriptArgs, env, nodeArgs) {
  const entry = benchDist() ? ['dist/' + script.replace(/^src\//, '').replace(/\.ts$/, '.js')] : ['--import', 'tsx', script];
  const child = spawn(process.execPath, [...productionNodeFlags(), ...nodeArgs, ...entry, ...scriptArgs], {
    cwd: SERVER_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const proc = { child, alive: true, exited, log: () => output };
  let stopping = false;
  exited.then(({ code, signal }) => {
    proc.alive = false;
    // A server that dies mid-run would otherwise only show as the bench's next failed request.
    if (!stopping) process.stderr.write(`\n[bench] ${script} exited unexpectedly (code ${code}, signal ${signal}); its last output:\n${output.slice(-4000)}\n`);
  });
  proc.stop = async () => {
    if (!proc.alive) return;
    stopping = true;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(proc.stop);
  return proc;
}

/**
 * Starts the server against a fresh database and Redis prefix and resolves once /readyz answers 200.
 * `role`: `'api'` (default) runs `src/main.ts --role=api` (no BullMQ workers); `'all'` runs `src/main.ts`
 * with the workers in the same process. `worker: true` also starts `src/worker.ts` next to it (same
 * database, prefix and env), returned as `worker` ({ child, stop, log }). `stop()` sends SIGTERM (so
 * --cpu-prof profiles get written) to the worker and the server; the database, Redis keys and data dir
 * are removed by the cleanup registry.
 */
export async function startServer({ bcryptCost = 4, env = {}, nodeArgs = [], workerNodeArgs = [], readyTimeoutMs = 90_000, role = 'api', worker = false, beforeStart } = {}) {
  await buildDist();
  const db = await createDatabase();
  // e.g. `ALTER DATABASE ... SET log_statement = 'all'` while no connection is open yet
  if (beforeStart) await beforeStart(db);
  const prefix = `bench:${randomBytes(5).toString('hex')}:`;
  onCleanup(() => deleteRedisPrefix(prefix));
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'));
  onCleanup(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const childEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    BCRYPT_COST: String(bcryptCost),
    // One client on one IP drives every benchmark: the per-IP and per-account limits (abuse protection)
    // would refuse most of its requests. Lifted, not `off` (the limiter still runs, as in production).
    ...BENCH_LIMITS,
    // e.g. BENCH_SERVER_ENV='{"SOME_LIMIT":"100000"}' to lift a limit that would throttle one client.
    ...JSON.parse(process.env.BENCH_SERVER_ENV || '{}'),
    ...env,
  };
  delete childEnv.NODE_ENV;
  const server = spawnServerProcess('src/main.ts', role === 'api' ? ['--role=api'] : [], childEnv, nodeArgs);
  const { child } = server;

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!server.alive) throw new Error(`server exited before it was ready:\n${server.log()}`);
    if (Date.now() > deadline) throw new Error(`server not ready after ${readyTimeoutMs} ms:\n${server.log()}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  // The worker starts once the server has migrated the database (it would wait on the same advisory lock).
  let workerProc;
  if (worker) {
    workerProc = spawnServerProcess('src/worker.ts', [], childEnv, workerNodeArgs);
    await waitForWorker(workerProc, prefix, readyTimeoutMs);
  }
  return {
    base,
    port,
    db,
    prefix,
    dataDir,
    child,
    env: childEnv,
    worker: workerProc,
    stop: async () => {
      await workerProc?.stop();
      await server.stop();
    },
    /** Warnings and errors the server logged (LOG_LEVEL=warn), for the report. */
    log: () => server.log() + (workerProc ? `\n--- worker ---\n${workerProc.log()}` : ''),
  };
}

/**
 * A worker process is ready when BullMQ's blocking connection of its `email` worker is up: BullMQ names
 * it `<prefix>bull:<base64 queue name>` (`CLIENT LIST`). An API-only server opens no such connection.
 */
async function waitForWorker(proc, prefix, timeoutMs) {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const name = `name=${prefix}bull:${Buffer.from('email').toString('base64')} `;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (!proc.alive) throw new Error(`worker exited before it was ready:\n${proc.log()}`);
      if (Date.now() > deadline) throw new Error(`worker not ready after ${timeoutMs} ms:\n${proc.log()}`);
      if ((await redis.client('LIST')).includes(name)) return;
      await sleep(150);
    }
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------------------------

export const Q = {
  typename: '{ __typename }',
  me: 'query Me { me { id username } }',
  login: 'mutation L($i: LoginInput!) { login(input: $i) { ... on AuthPayload { accessToken } } }',
  refresh: 'mutation R($t: String!) { refresh(refreshToken: $t) { accessToken refreshToken } }',
  register:
    'mutation Reg($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id } } }',
};

export async function gql(base, query, variables, headers = {}) {
  assertLoopback(base);
  const r = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (r.status !== 200 || body.errors) throw new Error(`GraphQL ${r.status}: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

/** Registers `n` accounts through the API (one bcrypt hash each at the server's cost). */
export async function registerUsers(base, n, { tag = 'u', concurrency = 2 } = {}) {
  const users = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const username = `bench_${tag}${i}`;
      const d = await gql(base, Q.register, { i: { username, email: `${username}@example.com`, password: PASSWORD } });
      users[i] = { username, id: d.register.user.id, accessToken: d.register.accessToken, refreshToken: d.register.refreshToken };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return users;
}

/** An opaque refresh token exactly as the server makes them: 32 random bytes, base64url. */
export const newRefreshToken = () => randomBytes(32).toString('base64url');
export const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Seeds `users` accounts and `sessions` live sessions, each with one unused refresh token, straight
 * into PostgreSQL (the table layout of prisma/migrations/*_init). Returns the clear tokens.
 * The password hash is a placeholder: these accounts cannot log in, only refresh.
 */
export async function seedSessionsSql(databaseUrl, { users = 100, sessions, tag = 's' }) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `INSERT INTO users (username, email, password_hash, updated_at)
       SELECT 'bench_' || $2 || i, 'bench_' || $2 || i || '@example.com', '$2b$04$' || repeat('.', 53), now()
       FROM generate_series(1, $1::int) AS i RETURNING id`,
      [users, tag],
    );
    const userIds = rows.map((r) => r.id);
    const tokens = new Array(sessions);
    const CHUNK = 20_000;
    for (let start = 0; start < sessions; start += CHUNK) {
      const n = Math.min(CHUNK, sessions - start);
      const sids = [];
      const uids = [];
      const hashes = [];
      for (let i = 0; i < n; i++) {
        const t = newRefreshToken();
        tokens[start + i] = t;
        sids.push(randomUUID());
        uids.push(userIds[(start + i) % userIds.length]);
        hashes.push(sha256(t).toString('hex'));
      }
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO sessions (id, user_id, expires_at, idle_expires_at)
         SELECT sid, uid, now() + interval '30 days', now() + interval '14 days'
         FROM unnest($1::uuid[], $2::uuid[]) AS x(sid, uid)`,
        [sids, uids],
      );
      await client.query(
        `INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
         SELECT sid, decode(h, 'hex'), now() + interval '30 days'
         FROM unnest($1::uuid[], $2::text[]) AS y(sid, h)`,
        [sids, hashes],
      );
      await client.query('COMMIT');
    }
    await client.query('ANALYZE users; ANALYZE sessions; ANALYZE refresh_tokens');
    return { userIds, tokens };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// load generation
// ---------------------------------------------------------------------------------------------

function assertLoopback(base) {
  const host = new URL(base).hostname;
  if (!LOOPBACK.test(host)) throw new Error(`refusing to target ${host}: loopback only`);
}

/**
 * The bench client is one device: every request names the same User-Agent, the accounts' set-up (gql,
 * registerUsers) included. Latchkey treats a sign-in from an address and client it has not seen with the
 * account as a new device (a transaction, a denial link, a "new sign-in" email); autocannon sends no
 * User-Agent, so the first sign-ins of each account (16 connections in lockstep: 16 per account before
 * one commits) all were, for ~8 s: the first measured run paid for hundreds of them. Returning users on a
 * known device are what a sign-in benchmark means.
 */
export const BENCH_USER_AGENT = 'latchkey-bench/1';
export const JSON_HEADERS = { 'content-type': 'application/json', 'user-agent': BENCH_USER_AGENT };

/** A GraphQL POST for autocannon's `requests` array. */
export function gqlRequest(query, variables, headers = {}) {
  return {
    method: 'POST',
    path: '/graphql',
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify(variables ? { query, variables } : { query }),
  };
}

/**
 * Hands out items of a pool exactly once across every connection (single-use tokens). Past the end it
 * returns `fallback` (an invalid token, so the request counts as failed) and flags `exhausted`:
 * throwing inside autocannon's setupRequest would crash the run instead.
 */
export function poolCursor(items, fallback = 'pool-exhausted') {
  let i = 0;
  return {
    next() {
      return i < items.length ? items[i++] : ((i++), fallback);
    },
    get used() {
      return i;
    },
    get exhausted() {
      return i > items.length;
    },
  };
}

/**
 * Runs autocannon and returns the figures we report. Every response is checked: a non-200 status or
 * a GraphQL `errors` member counts as a failure, so a fast stream of errors cannot pass for speed.
 * `requests` items may carry `setupRequest` (e.g. to take the next single-use token). `accept(body,
 * headers)`, when given, must also hold for a 200/201 to count (e.g. a peer that answers `null` with 200).
 * `settle` (seconds, default 0): the run lasts `settle + duration`, and `rps` counts only the responses of
 * the last `duration` seconds, so slow requests (bcrypt) are measured in the steady state, not in the
 * ramp-up of the first responses (which penalises a server running more of them at once).
 */
export async function load(base, { requests, connections = 50, duration = 8, overallRate, label = '', timeout = 30, quiet = false, serverPid, pids, accept, settle = 0 }) {
  assertLoopback(base);
  const idleBefore = quiet ? await waitForQuiet() : undefined;
  const cpu0 = serverPid ? processCpu() : undefined;
  const failures = { status: {}, graphqlErrors: 0, rejected: 0, samples: [] };
  let countFrom = Infinity;
  let okSettled = 0;
  /** True when the response counts as served; a failure is tallied by kind. */
  const served = (status, body, headers) => {
    if (status !== 200 && status !== 201) {
      failures.status[status] = (failures.status[status] ?? 0) + 1;
    } else if (body.includes('"errors"')) {
      failures.graphqlErrors++;
    } else if (accept && !accept(body, headers)) {
      failures.rejected++;
    } else {
      return true;
    }
    if (failures.samples.length < 3) failures.samples.push(`${status} ${String(body).slice(0, 300)}`);
    return false;
  };
  const check = (status, body, _context, headers) => {
    if (served(status, body, headers) && performance.now() >= countFrom) okSettled++;
  };
  const reqs = requests.map((r) => ({ ...r, onResponse: check }));
  const la = loadavg()[0];
  countFrom = settle > 0 ? performance.now() + settle * 1000 : Infinity;
  const result = await new Promise((res, rej) => {
    const inst = autocannon(
      { url: base, connections, duration: settle + duration, requests: reqs, timeout, ...(overallRate ? { overallRate } : {}) },
      (err, r) => (err ? rej(err) : res(r)),
    );
    // autocannon counts a thrown setupRequest as nothing useful: surface it.
    inst.on('error', rej);
  });
  const settledSeconds = settle > 0 ? (performance.now() - countFrom) / 1000 : undefined;
  const cpu = cpu0 ? cpuBreakdown(cpu0, processCpu(), result.duration, { serverPid, pids }) : undefined;
  const failed = Object.values(failures.status).reduce((a, b) => a + b, 0) + failures.graphqlErrors + failures.rejected;
  const seconds = result.duration;
  const ok = result.requests.total - failed;
  return {
    label,
    connections,
    duration: Number(seconds.toFixed(2)),
    requests: result.requests.total,
    ok,
    /** Successful responses per second over the whole run (with `settle`: over its last `duration` seconds). */
    rps: Number(((settledSeconds ? okSettled / settledSeconds : ok / seconds)).toFixed(1)),
    ...(settledSeconds ? { settle, settledOk: okSettled, settledSeconds: Number(settledSeconds.toFixed(2)) } : {}),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    failed,
    failures: failed ? failures : undefined,
    loadavgBefore: Number(la.toFixed(2)),
    ...(idleBefore !== undefined ? { cpuIdleBefore: idleBefore } : {}),
    /** Cores used during the run, by process group (when `serverPid` is given). */
    ...(cpu ? { cpu } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// reporting
// ---------------------------------------------------------------------------------------------

export const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** A markdown table from rows of objects (columns = keys of the first row). */
export function table(rows) {
  if (!rows.length) return '';
  const cols = Object.keys(rows[0]);
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(cols), line(cols.map(() => '---')), ...rows.map((r) => line(cols.map((c) => String(r[c] ?? ''))))].join('\n');
}

/** Prints the human table and one machine-readable line that run-all.mjs collects. */
export function report(name, markdown, json) {
  const tree = gitState();
  process.stdout.write(`\n## ${name}\n\n${markdown}\n\n(source: ${tree})\n\n`);
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ name, source: tree, ...json })}\n`);
}

/** The commit measured, and whether src/ or prisma/ had uncommitted changes (others edit them live). */
function gitState() {
  if (SERVER_ROOT !== ROOT) return `BENCH_ROOT=${SERVER_ROOT}`;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'prisma'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in src/ or prisma/` : head;
  } catch {
    return 'unknown';
  }
}

function cpuTimes() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

const CLK_TCK = 100;

/**
 * CPU seconds (utime + stime) a process has used so far, all its threads; with `tid`, that one thread's
 * (`tid === pid` is a Node process's JavaScript thread). NaN once it exited, or off Linux.
 */
export function cpuSecondsOf(pid, tid) {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU seconds used so far by every process, by pid: { pid: { comm, cpu } } (from /proc; {} elsewhere). */
export function processCpu() {
  const out = {};
  try {
    const t = cpuTimes();
    // whole-machine busy CPU seconds, so processes that start and exit within a run are counted too
    out.machine = { comm: '(machine)', cpu: (t.total - t.idle) / CLK_TCK };
  } catch {
    // not Linux
  }
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      // fields 14 (utime) and 15 (stime), 1-based over the whole line; f starts at field 3
      out[pid] = { comm, cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK };
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Where the CPU went between two `processCpu()` snapshots, in cores (CPU seconds per wall second):
 * the server, this bench process (autocannon), PostgreSQL backends, Redis, and everything else.
 * `pids` names more processes of ours (e.g. `{ worker: pid, publisher: pid }`), each its own group.
 */
export function cpuBreakdown(before, after, seconds, { serverPid, pids = {} } = {}) {
  const groups = { server: 0, ...Object.fromEntries(Object.keys(pids).map((k) => [k, 0])), 'bench client': 0, postgres: 0, redis: 0, other: 0 };
  const named = new Map(Object.entries(pids).map(([k, pid]) => [Number(pid), k]));
  const others = {};
  for (const [pid, a] of Object.entries(after)) {
    if (pid === 'machine') continue;
    const d = a.cpu - (before[pid]?.cpu ?? 0);
    if (d <= 0) continue;
    if (Number(pid) === serverPid) groups.server += d;
    else if (named.has(Number(pid))) groups[named.get(Number(pid))] += d;
    else if (Number(pid) === process.pid) groups['bench client'] += d;
    else if (a.comm === 'postgres') groups.postgres += d;
    else if (a.comm.startsWith('redis-server')) groups.redis += d;
    else {
      groups.other += d;
      others[a.comm] = (others[a.comm] ?? 0) + d;
    }
  }
  if (before.machine && after.machine) {
    // Busy time of the whole machine not seen in any live process: processes that exited meanwhile
    // (other people's test runs), kernel threads that were renamed.
    const seen = Object.values(groups).reduce((x, y) => x + y, 0);
    groups.other += Math.max(0, after.machine.cpu - before.machine.cpu - seen);
  }
  const cores = Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, Number((v / seconds).toFixed(2))]));
  const topOther = Object.entries(others)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([k, v]) => `${k} ${(v / seconds).toFixed(2)}`)
    .join(', ');
  return { ...cores, ...(topOther ? { otherTop: topOther } : {}) };
}

/** Share of all cores idle over the next `ms` (from /proc/stat; 1 when unavailable). */
export async function cpuIdle(ms = 1000) {
  try {
    const a = cpuTimes();
    await sleep(ms);
    const b = cpuTimes();
    return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : 1;
  } catch {
    return 1;
  }
}

/**
 * Waits (up to `timeoutMs`) for a second in which at least `minIdle` of the CPU is idle: other people's
 * test runs on this shared 2-core box would otherwise land inside a measurement. Returns the idle share
 * last seen, which the reports carry so a noisy run can be recognised.
 */
export async function waitForQuiet({ minIdle = Number(process.env.BENCH_MIN_IDLE ?? 0.85), timeoutMs = Number(process.env.BENCH_QUIET_TIMEOUT_MS ?? 30_000) } = {}) {
  const deadline = Date.now() + timeoutMs;
  let idle;
  do {
    idle = await cpuIdle(1000);
  } while (idle < minIdle && Date.now() < deadline);
  if (idle < minIdle) log(`CPU still busy (${(idle * 100).toFixed(0)}% idle) after ${timeoutMs / 1000}s: measuring anyway`);
  return Number(idle.toFixed(2));
}

export const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);

/** "server 0.98 · pg 0.61 · client 0.30 · redis 0.04 · other 0.05" (cores), for tables. */
export function fmtCpu(cpu) {
  if (!cpu) return '';
  const short = { server: 'server', 'bench client': 'client', postgres: 'pg', redis: 'redis', other: 'other' };
  return Object.entries(cpu)
    .filter(([k, v]) => k !== 'otherTop' && typeof v === 'number')
    .map(([k, v]) => `${short[k] ?? k} ${v.toFixed(2)}`)
    .join(' · ');
}

/** The value at quantile `q` (0..1) of `xs`, nearest rank; NaN when empty. */
export function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** p50/p90/p99/max of a list of milliseconds, rounded to 0.1 ms. */
export function latencySummary(xs) {
  const r = (x) => (Number.isFinite(x) ? Number(x.toFixed(1)) : null);
  return { n: xs.length, p50: r(quantile(xs, 0.5)), p90: r(quantile(xs, 0.9)), p99: r(quantile(xs, 0.99)), max: r(quantile(xs, 1)), min: r(quantile(xs, 0)) };
}

/**
 * GET /metrics, parsed: { name: value } for unlabelled samples, labelled samples summed under their name
 * (e.g. `latchkey_process_resident_memory_bytes`, `latchkey_process_cpu_seconds_total`).
 */
export async function scrapeMetrics(base) {
  assertLoopback(base);
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out[m[1]] = (out[m[1]] ?? 0) + v;
  }
  return out;
}

/** `uptime`-style one-liner (load averages, busy share of the last second) for the load notes of a report. */
export async function loadNote() {
  const [a, b, c] = loadavg();
  const idle = await cpuIdle(1000);
  return `load ${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)}, CPU ${(100 - idle * 100).toFixed(0)}% busy`;
}

/**
 * The bcrypt ceiling at `cost` (bench/bcrypt-ceiling.mjs in a process of its own, after a quiet second):
 * { opsPerSec, p50, cores, ..., cpuIdleBefore, otherCores } (otherCores: what the rest of the machine
 * used meanwhile, in cores, so a disturbed measurement can be recognised).
 */
export async function bcryptCeiling(cost, { duration = 4, concurrency = Math.min(availableParallelism(), 3) } = {}) {
  const cpuIdleBefore = await waitForQuiet();
  const m0 = processCpu().machine?.cpu;
  const t0 = performance.now();
  const stdout = await new Promise((res, rej) =>
    execFile(process.execPath, ['bench/bcrypt-ceiling.mjs', `--cost=${cost}`, `--concurrency=${concurrency}`, `--duration=${duration}`], { cwd: ROOT }, (err, out) =>
      err ? rej(err) : res(out),
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const r = JSON.parse(stdout.trim().split('\n').pop());
  const other = m0 === undefined ? 0 : Math.max(0, (processCpu().machine.cpu - m0) / wall - (r.cores * r.seconds) / wall);
  return { ...r, cpuIdleBefore, otherCores: Number(other.toFixed(2)) };
}

/**
 * The password paths' floor over HTTP: bench/bcrypt-http-server.mjs (bcrypt and nothing else per
 * request) under `load` with the given connections; the load's result ({ rps, p50, cpu, ... }).
 */
export async function bcryptOverHttp(cost, { connections = 16, duration = 8, settle = 2 } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, ['bench/bcrypt-http-server.mjs', `--cost=${cost}`, `--port=${port}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((res, rej) => {
      child.stdout.once('data', res);
      child.once('exit', (code) => rej(new Error(`bcrypt-http-server exited with ${code}`)));
    });
    const request = { method: 'POST', path: '/', headers: JSON_HEADERS, body: JSON.stringify({ identifier: 'someone', password: PASSWORD }) };
    return await load(`http://127.0.0.1:${port}`, { requests: [request], connections, duration, settle, quiet: true, serverPid: child.pid });
  } finally {
    child.kill('SIGKILL');
  }
}

/**
 * `op(i)` in `concurrency` loops for `duration` seconds, in this process: the calls, the seconds, sorted
 * latencies (ms), this process's CPU per call (µs), and `cpuPerCall(pred)`: CPU per call (µs) of the
 * processes whose command name matches (e.g. the PostgreSQL backends), from /proc.
 */
export async function measureInProcess(op, { concurrency = 10, duration = 2 } = {}) {
  const lat = [];
  let ops = 0;
  let i = 0;
  const p0 = processCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + duration * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(i++);
        lat.push(performance.now() - t);
        ops++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const p1 = processCpu();
  lat.sort((a, b) => a - b);
  const cpuPerCall = (pred) => (Object.entries(p1).reduce((sum, [pid, a]) => (pred(a.comm) ? sum + a.cpu - (p0[pid]?.cpu ?? 0) : sum), 0) * 1e6) / ops;
  return { ops, secs, lat, nodeUs: (c.user + c.system) / ops, cpuPerCall };
}

/** Applies the project's migrations (prisma/migrations, in order) to the database at `url`. */
export async function migrateDatabase(url) {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  try {
    const dir = join(ROOT, 'prisma/migrations');
    for (const d of readdirSync(dir).filter((d) => /^\d/.test(d)).sort()) await setup.query(readFileSync(join(dir, d, 'migration.sql'), 'utf8'));
  } finally {
    await setup.end();
  }
}

/** Resident set size of a live process in bytes (VmRSS from /proc; NaN elsewhere or once it exited). */
export function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** One SQL statement on its own connection (a bench's setup and accounting, never its measured path): the rows. */
export async function sql(url, text, values) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows;
  } finally {
    await c.end();
  }
}
