// Latchkey next to Better Auth (bench/peers/better-auth/): the same paths on both servers, alternating
// runs, at each bcrypt cost; medians of the pairwise ratios (Latchkey / Better Auth), and each path's
// ratio to its floor measured in the same run (password paths: the bcrypt ceiling; the others: each
// server's own trivial endpoint, Latchkey `{ __typename }`, Better Auth `GET /api/auth/ok`). Password paths
// are also shown against bcrypt over HTTP (bench/bcrypt-http-server.mjs: bcrypt and nothing else behind
// node:http, under the same load): what the HTTP stack and the load generator leave of the ceiling.
//   node bench/peers.mjs [--costs=10,12] [--pairs=3] [--duration=8] [--warmup=2]
//     [--paths=check,refresh,signin,signup] [--doors=rest,graphql] [--connections=50]
//     [--passwordConnections=16] [--users=16] [--peerSessions=2000] [--refreshPerSec=5000] [--settle=2]
//     [--peerBcryptCap=false] [--cpuProf=<dir>] [--dist=false]
// Latchkey runs as built JavaScript (`npm run build` first, then `node dist/main.js`, as the Docker image runs
// it), like Better Auth's published JavaScript; --dist=false (or BENCH_DIST=0) runs the TypeScript under tsx.
// --peerBcryptCap=false lets Better Auth run bcrypt uncapped on libuv's pool (see server.mjs there);
// by default it has Latchkey's cap (one bcrypt per core).
// Password runs last --settle + --duration seconds and count the responses of the last --duration only
// (the steady state: Better Auth runs 4 bcrypt jobs at once on libuv's pool, Latchkey one per core, so
// their first responses come at different times).
// Better Auth and its dependencies are installed on first use into bench/peers/better-auth/node_modules
// (npm ci of that folder's own lockfile; the project's `npm ci` never installs them).
// Targets (medians of the pairwise ratios): sign-in and sign-up ≥ 1.2× Better Auth at every cost, every
// Latchkey password path ≥ 0.95 of the bcrypt ceiling, `me` ≥ 3× Better Auth's session check (its
// database lookup and its cookie cache), Latchkey's RSS ≤ 1.5× Better Auth's.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  args,
  bcryptCeiling,
  bcryptOverHttp,
  cpuSecondsOf,
  createDatabase,
  fmtCpu,
  freePort,
  gqlRequest,
  JSON_HEADERS,
  load,
  log,
  main,
  median,
  onCleanup,
  PASSWORD,
  pct,
  poolCursor,
  Q,
  registerUsers,
  report,
  ROOT,
  rssOf,
  seedSessionsSql,
  startServer,
  table,
} from './lib.mjs';

const opt = args({
  costs: '10,12',
  pairs: 3,
  duration: 8,
  warmup: 2,
  paths: 'check,refresh,signin,signup',
  doors: 'rest,graphql',
  connections: 50,
  passwordConnections: 16,
  users: 16,
  peerSessions: 2000,
  refreshPerSec: 5000,
  settle: 2,
  peerBcryptCap: true,
  cpuProf: '',
  // Latchkey as deployed (the Docker image and `npm run start:prod` run `node dist/main.js`): built first.
  dist: true,
});
if (opt.dist && process.env.BENCH_DIST === undefined) process.env.BENCH_DIST = '1';
const costs = String(opt.costs).split(',').map(Number);
const paths = new Set(String(opt.paths).split(','));
const doors = String(opt.doors).split(',');
if (opt.pairs < 1) throw new Error('--pairs must be at least 1');
if (!doors.every((d) => d === 'rest' || d === 'graphql')) throw new Error('--doors: rest, graphql or both');

const TARGET = { password: 1.2, ceiling: 0.95, check: 3, rss: 1.5 };
const PEER_DIR = join(ROOT, 'bench/peers/better-auth');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (b) => Number((b / 2 ** 20).toFixed(1));
const x = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '');

// ---------------------------------------------------------------------------------------------
// Better Auth: installed on demand, on a throw-away database of its own
// ---------------------------------------------------------------------------------------------

/** npm ci in bench/peers/better-auth when its node_modules is missing or was made from another lockfile. */
function ensurePeerInstalled() {
  const lock = readFileSync(join(PEER_DIR, 'package-lock.json'));
  const digest = createHash('sha256').update(lock).digest('hex');
  const stamp = join(PEER_DIR, 'node_modules/.latchkey-lock-sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  log('installing Better Auth into bench/peers/better-auth/node_modules (npm ci of its own lockfile)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PEER_DIR, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error('npm ci in bench/peers/better-auth failed');
  writeFileSync(stamp, digest);
}

/** Starts bench/peers/better-auth/server.mjs on a fresh database (Better Auth's own migrator makes its tables). */
async function startPeer({ cost, nodeArgs = [], readyTimeoutMs = 60_000 }) {
  const db = await createDatabase();
  const port = await freePort();
  const env = { ...process.env, DATABASE_URL: db.url, PORT: String(port), BCRYPT_COST: String(cost), NODE_ENV: 'production' };
  if (!opt.peerBcryptCap) env.BCRYPT_MAX_CONCURRENT = '0';
  await promisify(execFile)(process.execPath, ['server.mjs', '--migrate'], { cwd: PEER_DIR, env });
  const child = spawn(process.execPath, [...nodeArgs, 'server.mjs'], { cwd: PEER_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let alive = true;
  const exited = new Promise((r) => child.once('exit', () => r((alive = false))));
  const stop = async () => {
    if (!alive) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(stop);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!alive) throw new Error(`Better Auth exited before it was ready:\n${output}`);
    if (Date.now() > deadline) throw new Error(`Better Auth not ready after ${readyTimeoutMs} ms:\n${output}`);
    try {
      if ((await fetch(`${base}/api/auth/ok`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  return { base, db, child, stop, log: () => output };
}

/** A set-up POST. fetch sends Sec-Fetch-* headers, with which Better Auth requires a trusted Origin: its own. */
async function postJson(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, origin: new URL(url).origin }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`POST ${url}: ${r.status} ${await r.text()}`);
  return r;
}

/** Signs up `n` Better Auth users through its API (one bcrypt hash each). */
async function signUpPeerUsers(base, n, tag) {
  const users = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const email = `bench_${tag}${i}@example.com`;
      await postJson(`${base}/api/auth/sign-up/email`, { email, password: PASSWORD, name: `bench ${tag}${i}` });
      users[i] = { email };
    }
  };
  await Promise.all(Array.from({ length: Math.min(2, n) }, worker));
  return users;
}

/** `count` session cookies (`better-auth.session_token=...`) of one user, opened by Better Auth's internal adapter. */
async function peerSessions(base, email, count) {
  return (await postJson(`${base}/bench/sessions`, { email, count })).json();
}

/** The `name=value` pairs of a response's Set-Cookie headers. */
const cookiePairs = (res) => res.headers.getSetCookie().map((c) => c.split(';')[0]);

// ---------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------

let signUpSeq = 0;
/** A fresh identity per sign-up (autocannon's setupRequest runs once per request). */
const nextIdentity = (tag) => {
  const name = `${tag}x${signUpSeq++}`;
  return { username: name, email: `${name}@example.com` };
};

const post = (path, body, extra = {}) => ({ method: 'POST', path, headers: JSON_HEADERS, body: JSON.stringify(body), ...extra });

const lk = {
  typename: () => [gqlRequest(Q.typename)],
  me: (users) => users.map((u) => gqlRequest(Q.me, undefined, { authorization: `Bearer ${u.accessToken}` })),
  signin: {
    rest: (users) => users.map((u) => post('/auth/login', { identifier: u.username, password: PASSWORD })),
    graphql: (users) => users.map((u) => gqlRequest(Q.login, { i: { identifier: u.username, password: PASSWORD } })),
  },
  signup: {
    rest: (tag) => [post('/auth/register', {}, { setupRequest: (req) => ({ ...req, body: JSON.stringify({ ...nextIdentity(tag), password: PASSWORD }) }) })],
    graphql: (tag) => [
      {
        ...gqlRequest(Q.register, { i: {} }),
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: Q.register, variables: { i: { ...nextIdentity(tag), password: PASSWORD } } }) }),
      },
    ],
  },
  refresh: {
    rest: (cursor) => [post('/auth/refresh', {}, { setupRequest: (req) => ({ ...req, body: JSON.stringify({ refreshToken: cursor.next() }) }) })],
    graphql: (cursor) => [
      { ...gqlRequest(Q.refresh, { t: '' }), setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: Q.refresh, variables: { t: cursor.next() } }) }) },
    ],
  },
};

// Better Auth answers `null` with 200 for a missing or unknown session: only a session counts as served.
const isSession = (body) => body.startsWith('{"session"');
const ba = {
  ok: () => [{ method: 'GET', path: '/api/auth/ok' }],
  // The database lookup alone: no cookie cache, and no extension of the session (no write, no cookies).
  db: (cookies) => cookies.map((c) => ({ method: 'GET', path: '/api/auth/get-session?disableCookieCache=true&disableRefresh=true', headers: { cookie: c.token } })),
  dbAccept: (body, headers) => isSession(body) && !headers['set-cookie'],
  // Served from the signed session_data cookie: a hit sets no cookie (a miss falls back to the database and sets one).
  cache: (cookies) => cookies.map((c) => ({ method: 'GET', path: '/api/auth/get-session', headers: { cookie: `${c.token}; ${c.data}` } })),
  cacheAccept: (body, headers) => isSession(body) && !headers['set-cookie'],
  // updateAge 0: the session row's expiry is moved forward (UPDATE) and both cookies are issued again.
  refresh: (cookies) => {
    let i = 0;
    return [{ method: 'GET', path: '/api/auth/get-session?disableCookieCache=true', headers: {}, setupRequest: (req) => ({ ...req, headers: { cookie: cookies[i++ % cookies.length] } }) }];
  },
  refreshAccept: (body, headers) => isSession(body) && String(headers['set-cookie'] ?? '').includes('session_token='),
  signin: (users) => users.map((u) => post('/api/auth/sign-in/email', { email: u.email, password: PASSWORD })),
  signup: (tag) => [
    post('/api/auth/sign-up/email', {}, { setupRequest: (req) => ({ ...req, body: JSON.stringify({ email: nextIdentity(tag).email, password: PASSWORD, name: 'bench' }) }) }),
  ],
};

// ---------------------------------------------------------------------------------------------
// one step: every run of both servers, warm-up, then --pairs alternating pairs
// ---------------------------------------------------------------------------------------------

/**
 * Runs a step's runs: `latchkey` and `peer` are lists of { key, requests, accept }. Pair i runs one
 * server's list then the other's, the order swapped every pair (A B, B A, ...), so a drift of the
 * machine hits both alike. Returns { key: [result per pair] }.
 */
async function runStep(name, { servers, latchkey, peer, connections, settle = 0 }) {
  const sides = [
    { runs: latchkey, server: servers.latchkey, other: servers.peer, otherName: 'better-auth (idle)' },
    { runs: peer, server: servers.peer, other: servers.latchkey, otherName: 'latchkey (idle)' },
  ];
  const go = async (side, run, duration, quiet) => {
    const r = await load(side.server.base, {
      settle: quiet ? settle : 0,
      requests: run.requests,
      accept: run.accept,
      connections,
      duration,
      label: run.key,
      quiet,
      serverPid: side.server.child.pid,
      pids: { [side.otherName]: side.other.child.pid },
    });
    // autocannon stops at the deadline, but the server still works off the requests in flight (16
    // bcrypt jobs are a second or more at cost 12): the next run, on either server, starts after that.
    await waitForIdle(side.server.child.pid);
    return r;
  };
  log(`${name}: warm-up ${opt.warmup}s per run`);
  for (const side of sides) for (const run of side.runs) await go(side, run, opt.warmup, false);
  const out = Object.fromEntries([...latchkey, ...peer].map((r) => [r.key, []]));
  for (let i = 0; i < opt.pairs; i++) {
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    log(`${name}: pair ${i + 1}/${opt.pairs} (${order.map((s) => s.runs.map((r) => r.key).join(', ')).join(' | ')}), ${connections} connections x ${settle ? `${settle}s + ` : ''}${opt.duration}s`);
    for (const side of order) {
      for (const run of side.runs) {
        const r = await go(side, run, opt.duration, true);
        if (r.failures) log(`failures (${run.key}): ${JSON.stringify(r.failures)}`);
        out[run.key].push(r);
      }
    }
  }
  return out;
}

/** Waits (up to `timeoutMs`) until `pid` uses less than `maxCores` over a quarter of a second. */
async function waitForIdle(pid, { maxCores = 0.1, timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const a = cpuSecondsOf(pid);
    await sleep(250);
    const used = (cpuSecondsOf(pid) - a) / 0.25;
    if (!(used >= maxCores)) return;
  }
  log(`process ${pid} still busy after ${timeoutMs / 1000}s: going on`);
}

/** Median of the pairwise ratios a[i] / b[i], and the ratios themselves. */
function pairwise(a, b) {
  // A run with no successful response has no ratio (rather than 0 or Infinity passing for one).
  const ratios = a.map((r, i) => (r.rps > 0 && b[i].rps > 0 ? r.rps / b[i].rps : NaN));
  return { ratios, median: ratios.every(Number.isFinite) ? median(ratios) : NaN };
}

const rpsMedian = (rs) => Number(median(rs.map((r) => r.rps)).toFixed(1));

// ---------------------------------------------------------------------------------------------
// one cost
// ---------------------------------------------------------------------------------------------

async function measureCost(cost) {
  const password = paths.has('signin') || paths.has('signup');
  const ceilingBefore = password ? (log(`cost ${cost}: bcrypt ceiling (before)`), await bcryptCeiling(cost, { duration: opt.duration / 2 })) : undefined;

  const prof = (who) => (opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(opt.cpuProf, `${who}-c${cost}`)}`] : []);
  if (opt.cpuProf) for (const who of ['latchkey', 'better-auth']) mkdirSync(join(opt.cpuProf, `${who}-c${cost}`), { recursive: true });
  log(`cost ${cost}: starting Latchkey and Better Auth`);
  const [latchkey, peer] = await Promise.all([startServer({ bcryptCost: cost, nodeArgs: prof('latchkey') }), startPeer({ cost, nodeArgs: prof('better-auth') })]);
  const servers = { latchkey, peer };
  const rss = [];
  const sampleRss = (at) => rss.push({ at, latchkey: rssOf(latchkey.child.pid), peer: rssOf(peer.child.pid) });

  log(`cost ${cost}: ${opt.users} accounts on each server`);
  const [lkUsers, baUsers] = await Promise.all([registerUsers(latchkey.base, opt.users, { tag: `c${cost}_` }), signUpPeerUsers(peer.base, opt.users, `c${cost}_`)]);

  const runs = {};
  if (paths.has('check')) {
    // Four accounts each, like bench/me.mjs: Latchkey's access tokens, Better Auth's session cookies
    // (and, from a first get-session, the cookie cache).
    const cookies = [];
    for (const u of baUsers.slice(0, 4)) {
      const [token] = await peerSessions(peer.base, u.email, 1);
      const res = await fetch(`${peer.base}/api/auth/get-session?disableCookieCache=true`, { headers: { cookie: token } });
      const data = cookiePairs(res).find((c) => c.startsWith('better-auth.session_data='));
      if (!isSession(await res.text()) || !data) throw new Error('Better Auth: no session or no cookie cache from get-session');
      cookies.push({ token, data });
    }
    Object.assign(
      runs,
      await runStep(`cost ${cost} session check`, {
        servers,
        connections: opt.connections,
        latchkey: [
          { key: 'latchkey {__typename}', requests: lk.typename() },
          { key: 'latchkey me', requests: lk.me(lkUsers.slice(0, 4)) },
        ],
        peer: [
          { key: 'better-auth ok', requests: ba.ok() },
          { key: 'better-auth get-session (db)', requests: ba.db(cookies), accept: ba.dbAccept },
          { key: 'better-auth get-session (cookie cache)', requests: ba.cache(cookies), accept: ba.cacheAccept },
        ],
      }),
    );
    sampleRss('after session checks');
  }

  let refreshPool;
  if (paths.has('refresh')) {
    const lkDoors = doors.filter((d) => lk.refresh[d]);
    const total = Math.ceil(opt.refreshPerSec * (opt.warmup + opt.pairs * opt.duration) * lkDoors.length);
    log(`cost ${cost}: seeding ${total} Latchkey refresh tokens (SQL) and ${opt.peerSessions} Better Auth sessions`);
    const perUser = Math.ceil(opt.peerSessions / baUsers.length);
    const [{ tokens }, baCookies] = await Promise.all([
      seedSessionsSql(latchkey.db.url, { users: 100, sessions: total, tag: 'r' }),
      Promise.all(baUsers.map((u) => peerSessions(peer.base, u.email, perUser))).then((l) => l.flat()),
    ]);
    refreshPool = poolCursor(tokens);
    Object.assign(
      runs,
      await runStep(`cost ${cost} refresh`, {
        servers,
        connections: opt.connections,
        latchkey: lkDoors.map((d) => ({ key: `latchkey refresh (${d})`, requests: lk.refresh[d](refreshPool) })),
        peer: [{ key: 'better-auth session refresh', requests: ba.refresh(baCookies), accept: ba.refreshAccept }],
      }),
    );
    if (refreshPool.exhausted) log('WARNING: Latchkey ran out of refresh tokens: raise --refreshPerSec');
    sampleRss('after refresh');
  }

  if (paths.has('signin')) {
    Object.assign(
      runs,
      await runStep(`cost ${cost} sign-in`, {
        servers,
        connections: opt.passwordConnections,
        settle: opt.settle,
        latchkey: doors.map((d) => ({ key: `latchkey sign-in (${d})`, requests: lk.signin[d](lkUsers) })),
        peer: [{ key: 'better-auth sign-in', requests: ba.signin(baUsers) }],
      }),
    );
    sampleRss('after sign-in');
  }

  if (paths.has('signup')) {
    const before = await (await fetch(`${peer.base}/bench/stats`)).json();
    const step = await runStep(`cost ${cost} sign-up`, {
      servers,
      connections: opt.passwordConnections,
      settle: opt.settle,
      latchkey: doors.map((d) => ({ key: `latchkey sign-up (${d})`, requests: lk.signup[d](`s${cost}${d[0]}`) })),
      peer: [{ key: 'better-auth sign-up', requests: ba.signup(`b${cost}`) }],
    });
    Object.assign(runs, step);
    sampleRss('after sign-up');
    const after = await (await fetch(`${peer.base}/bench/stats`)).json();
    log(`Better Auth verification emails handed to its mailer during sign-up: ${after.verificationMails - before.verificationMails}`);
  }

  await Promise.all([latchkey.stop(), peer.stop()]);
  const ceilingAfter = password ? (log(`cost ${cost}: bcrypt ceiling (after)`), await bcryptCeiling(cost, { duration: opt.duration / 2 })) : undefined;
  // What a server doing nothing but bcrypt reaches over HTTP under the same load: the most any server
  // that also reads a database and writes a session could reach on this box.
  const overHttp = password
    ? (log(`cost ${cost}: bcrypt over HTTP`), await bcryptOverHttp(cost, { connections: opt.passwordConnections, duration: opt.duration, settle: opt.settle }))
    : undefined;
  const ceiling = password
    ? { before: ceilingBefore, after: ceilingAfter, opsPerSec: (ceilingBefore.opsPerSec + ceilingAfter.opsPerSec) / 2, overHttp: overHttp ? { rps: overHttp.rps, p50: overHttp.p50, cpu: overHttp.cpu } : undefined }
    : undefined;
  return { cost, runs, rss, ceiling, refreshTokensUsed: refreshPool?.used };
}

// ---------------------------------------------------------------------------------------------
// comparisons and tables
// ---------------------------------------------------------------------------------------------

/** Rows comparing Latchkey with Better Auth at one cost: [{ row fields }], and the JSON behind them. */
function compare(m) {
  const { runs, ceiling } = m;
  const floorLk = runs['latchkey {__typename}'];
  const floorBa = runs['better-auth ok'];
  const rows = [];
  const json = [];
  const add = ({ path, lkKey, baKey, target, ceilingTarget, floors }) => {
    const a = runs[lkKey];
    const b = runs[baKey];
    if (!a || !b) return;
    const { ratios, median: ratio } = pairwise(a, b);
    const lkRps = rpsMedian(a);
    const baRps = rpsMedian(b);
    const lkFloor = ceiling && ceilingTarget ? lkRps / ceiling.opsPerSec : floors && floorLk ? lkRps / rpsMedian(floorLk) : NaN;
    const baFloor = ceiling && ceilingTarget ? baRps / ceiling.opsPerSec : floors && floorBa ? baRps / rpsMedian(floorBa) : NaN;
    const pass = target === undefined ? undefined : Number.isFinite(ratio) && (target.max ? ratio <= target.max : ratio >= target.min);
    const floorPass = ceilingTarget ? lkFloor >= ceilingTarget : undefined;
    // Password paths also against bcrypt over HTTP (the same work behind node:http and nothing else).
    const httpRps = ceilingTarget ? ceiling?.overHttp?.rps : undefined;
    const lkHttp = httpRps ? lkRps / httpRps : NaN;
    const baHttp = httpRps ? baRps / httpRps : NaN;
    json.push({ path, latchkey: { key: lkKey, rps: lkRps, runs: a.map((r) => r.rps) }, betterAuth: { key: baKey, rps: baRps, runs: b.map((r) => r.rps) }, ratios, ratio, target, pass, latchkeyFloorRatio: lkFloor, betterAuthFloorRatio: baFloor, floorTarget: ceilingTarget, floorPass, latchkeyOverHttpRatio: lkHttp, betterAuthOverHttpRatio: baHttp });
    rows.push({
      cost: m.cost,
      path,
      'Latchkey req/s': `${lkRps} (${a.map((r) => r.rps).join(' / ')})`,
      'Better Auth req/s': `${baRps} (${b.map((r) => r.rps).join(' / ')})`,
      'pairwise ratios': ratios.map((r) => r.toFixed(2)).join(' / '),
      'median ratio': x(ratio),
      target: target === undefined ? '' : `${target.max ? '≤' : '≥'} ${target.max ?? target.min}× ${pass ? 'pass' : 'MISS'}`,
      'Latchkey / floor': Number.isFinite(lkFloor) ? `${pct(lkFloor)}${ceilingTarget ? ` (≥ ${pct(ceilingTarget)} ${floorPass ? 'pass' : 'MISS'})` : ''}` : '',
      'Better Auth / floor': Number.isFinite(baFloor) ? pct(baFloor) : '',
      'Latchkey · Better Auth / bcrypt over HTTP': Number.isFinite(lkHttp) ? `${pct(lkHttp)} · ${pct(baHttp)}` : '',
      failed: `${a.reduce((s, r) => s + r.failed, 0)} / ${b.reduce((s, r) => s + r.failed, 0)}`,
      'cores (Latchkey run · Better Auth run, middle pair)': `${fmtCpu(a[a.length >> 1]?.cpu)} ‖ ${fmtCpu(b[b.length >> 1]?.cpu)}`,
    });
  };
  add({ path: 'trivial endpoint: {__typename} vs /ok', lkKey: 'latchkey {__typename}', baKey: 'better-auth ok' });
  add({ path: 'session check: me vs get-session (db)', lkKey: 'latchkey me', baKey: 'better-auth get-session (db)', target: { min: TARGET.check }, floors: true });
  add({ path: 'session check: me vs get-session (cookie cache)', lkKey: 'latchkey me', baKey: 'better-auth get-session (cookie cache)', target: { min: TARGET.check }, floors: true });
  for (const d of doors) add({ path: `refresh (${d}) vs session refresh`, lkKey: `latchkey refresh (${d})`, baKey: 'better-auth session refresh', floors: true });
  for (const d of doors) add({ path: `sign-in (${d})`, lkKey: `latchkey sign-in (${d})`, baKey: 'better-auth sign-in', target: { min: TARGET.password }, ceilingTarget: TARGET.ceiling });
  for (const d of doors) add({ path: `sign-up (${d})`, lkKey: `latchkey sign-up (${d})`, baKey: 'better-auth sign-up', target: { min: TARGET.password }, ceilingTarget: TARGET.ceiling });

  const rssRatios = m.rss.map((s) => s.latchkey / s.peer);
  const rssRatio = median(rssRatios);
  const rssPass = rssRatio <= TARGET.rss;
  if (m.rss.length) {
    rows.push({
      cost: m.cost,
      path: 'RSS MiB (after each step)',
      'Latchkey req/s': m.rss.map((s) => MiB(s.latchkey)).join(' / '),
      'Better Auth req/s': m.rss.map((s) => MiB(s.peer)).join(' / '),
      'pairwise ratios': rssRatios.map((r) => r.toFixed(2)).join(' / '),
      'median ratio': x(rssRatio),
      target: `≤ ${TARGET.rss}× ${rssPass ? 'pass' : 'MISS'}`,
      'Latchkey / floor': '',
      'Better Auth / floor': '',
      'Latchkey · Better Auth / bcrypt over HTTP': '',
      failed: '',
      'cores (Latchkey run · Better Auth run, middle pair)': m.rss.map((s) => s.at).join(' / '),
    });
  }
  return { rows, json, rss: { samples: m.rss.map((s) => ({ ...s, latchkeyMiB: MiB(s.latchkey), peerMiB: MiB(s.peer) })), ratio: rssRatio, target: TARGET.rss, pass: rssPass } };
}

await main(async () => {
  ensurePeerInstalled();
  const peerVersion = JSON.parse(readFileSync(join(PEER_DIR, 'node_modules/better-auth/package.json'), 'utf8')).version;
  const measured = [];
  for (const cost of costs) measured.push(await measureCost(cost));

  const rows = [];
  const results = [];
  for (const m of measured) {
    const c = compare(m);
    rows.push(...c.rows);
    results.push({ cost: m.cost, ceiling: m.ceiling, comparisons: c.json, rss: c.rss, refreshTokensUsed: m.refreshTokensUsed, runs: m.runs });
  }
  const ceilings = measured
    .filter((m) => m.ceiling)
    .map(
      (m) =>
        `cost ${m.cost}: ${m.ceiling.opsPerSec.toFixed(1)} ops/s (before ${m.ceiling.before.opsPerSec}, after ${m.ceiling.after.opsPerSec}; other cores ${m.ceiling.before.otherCores}/${m.ceiling.after.otherCores}` +
        `; over HTTP ${m.ceiling.overHttp?.rps ?? '?'} req/s, ${m.ceiling.overHttp ? pct(m.ceiling.overHttp.rps / m.ceiling.opsPerSec) : '?'} of it)`,
    )
    .join('; ');
  const verdicts = results.flatMap((r) => [...r.comparisons.flatMap((c) => [c.pass, c.floorPass]), r.rss.samples.length ? r.rss.pass : undefined]).filter((v) => v !== undefined);
  report(
    'peers',
    `Latchkey vs Better Auth ${peerVersion} (bcrypt ${opt.peerBcryptCap ? "capped as Latchkey's" : 'uncapped'}), ${opt.pairs} alternating pairs of ${opt.duration}s runs per path; ` +
      `password paths ${opt.passwordConnections} connections over ${opt.users} accounts, the others ${opt.connections}. ` +
      `Ratios are Latchkey / Better Auth (medians of the pairs); floors: the bcrypt ceiling for password paths (${ceilings || 'not measured'}), ` +
      `each server's trivial endpoint for the others.\n\n${table(rows)}`,
    { betterAuth: peerVersion, peerBcryptCap: opt.peerBcryptCap, targets: TARGET, pass: verdicts.length > 0 && verdicts.every(Boolean), results },
  );
});
