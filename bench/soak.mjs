// Soak with chaos: does anything get lost or let through while processes die and stores go away?
//   npm run soak -- --minutes N   (node --import tsx bench/soak.mjs --minutes N [--signupRate=2] [--tracked=4]
//                                  [--drain=60] [--rssSlopeMax=<MiB/min>] [--warmup=<s>] [--seed=<n>])
// Starts its own PostgreSQL (the project's embedded cluster code, in a temp dir, on a free port) and its own
// redis-server (free port, no persistence), so it can stop, restart and flush them without touching the
// shared ones; two API instances (`src/main.ts --role=api`) and one worker (`src/worker.ts`) on them, the
// Resend HTTP double of the tests (src/test/resend-double.ts) in this process as RESEND_BASE_URL.
// Paced mixed traffic across both instances (sign-ups with verification by the emailed link, logins,
// refreshes, `me`, revocations, password resets by the emailed link, GraphQL and REST), `securityEvent`
// subscribers on both instances for a few users, and chaos on a schedule scaled to --minutes (a 60 s run has
// one of each): SIGKILL the worker while a send is in flight, restart Redis (data gone), FLUSHALL Redis once,
// stop PostgreSQL for 10 s, SIGKILL an API instance and start it again. Then a drain, and the accounting:
//   1. every account in PostgreSQL got exactly one verification email (distinct idempotency keys at the double);
//   2. every committed security event of a watched account reached each of its subscribers live when that
//      subscriber stayed connected through it, or else was returned by paging `securityEvents` after reconnect;
//   3. no revoked session works anywhere: access token (`me`, GraphQL and REST, both instances) and refresh
//      token (GraphQL and REST), probed all run long and all at once right after the FLUSHALL;
//   4. no 5xx but 503, and a 503 only inside an outage window (of PostgreSQL or Redis);
//   5. every service process's RSS flat after warm-up: least-squares slope in MiB/min under a threshold.
// Prints the tables; exits 1 when a check fails. Everything it started is removed (also on failure, Ctrl-C).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { BENCH_LIMITS, cleanupAll, freePort, log, onCleanup, PASSWORD, ROOT, rssOf, sql as queryPg, table } from './lib.mjs';

let startResendDouble, startEmbeddedPostgres, generateSigningJwk;
try {
  ({ startResendDouble } = await import('../src/test/resend-double.ts'));
  ({ startEmbeddedPostgres } = await import('../src/infra/db/embedded.ts'));
  ({ generateSigningJwk } = await import('../src/infra/crypto/keys.ts'));
} catch (e) {
  process.stderr.write(`bench/soak.mjs imports src/ TypeScript: run it with \`node --import tsx bench/soak.mjs\` (${e.message})\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// options: `--minutes 1` and `--minutes=1` both work (npm run soak -- --minutes 1)
// ---------------------------------------------------------------------------------------------

function options(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) continue;
    let v = m[2];
    if (v === undefined) v = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
    out[m[1]] = v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return out;
}

const opt = options({ minutes: 1, signupRate: 2, tracked: 4, drain: 0, rssSlopeMax: 0, warmup: 0, seed: Date.now() % 100_000, sampleMs: 2_000 });
const RUN_S = Math.max(20, Math.round(opt.minutes * 60));
/** Long enough for leased security events of a killed publisher (30 s) and a stalled job (JOB_LOCK_MS). */
const DRAIN_S = opt.drain || Math.min(90, 45 + RUN_S / 20);
/** RSS judged after this long in each process (start-up, JIT and pools settle first). */
const WARMUP_S = opt.warmup || (RUN_S >= 300 ? 60 : 20);
/**
 * Threshold on the RSS slope, MiB per minute. At this traffic (~10 requests/s per instance) a leak of 5 kB
 * per request is 3 MiB/min. A minute-long run sees mostly the heap growing to its working size (30-40 MiB/min
 * measured with no fault at all): there the bound only catches a gross leak (~150 kB per request); judge
 * leaks by a long run.
 */
const RSS_SLOPE_MAX = opt.rssSlopeMax || (RUN_S >= 300 ? 3 : 100);
/** An incarnation is judged when its samples after warm-up span at least this long. */
const RSS_MIN_SPAN_MS = RUN_S >= 300 ? 90_000 : 10_000;
/**
 * Long runs put every fault in the first 65% of the run: the last third is steady traffic, in which the
 * worker and the API instance started last are judged for RSS (api-a is never killed: judged all run).
 */
const FAULT_SHARE = RUN_S >= 300 ? 0.65 : 1;
/** Events may reach a subscriber this late and still count as "live" (a killed publisher's 30 s lease). */
const LIVE_SLACK_MS = 45_000;
/** After an outage ends, 503s are still accepted this long (instances notice the store is back). */
const OUTAGE_GRACE_MS = 5_000;
const PREFIX = 'soak:';

let seed = opt.seed;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T0 = Date.now();
const at = () => ((Date.now() - T0) / 1000).toFixed(1);
const say = (...a) => log(`[${at()}s] ${a.join(' ')}`);
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// our own Redis and PostgreSQL, which the chaos may break
// ---------------------------------------------------------------------------------------------

/** A one-shot client: no reconnects, and its connection errors are the caller's (no 'Unhandled error event'). */
function quietRedis(url) {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  return c;
}

class RedisServer {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.proc = undefined;
  }
  async start() {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    this.proc = { child, exited };
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING`);
      const c = quietRedis(this.url);
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        // not listening yet
      } finally {
        c.disconnect();
      }
      await sleep(50);
    }
  }
  /** SHUTDOWN NOSAVE (nothing on disk anyway), SIGKILL if it lingers. */
  async stop() {
    if (!this.proc) return;
    const { child, exited } = this.proc;
    this.proc = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const c = quietRedis(this.url);
    try {
      await c.connect();
      await c.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    } catch {
      child.kill('SIGKILL');
    } finally {
      c.disconnect();
    }
    const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(t);
  }
  async command(...args) {
    const c = quietRedis(this.url);
    await c.connect();
    try {
      return await c.call(...args);
    } finally {
      c.disconnect();
    }
  }
  get pid() {
    return this.proc?.child.pid;
  }
}

/** The project's embedded PostgreSQL (it runs as `postgres` when we are root), stoppable and restartable. */
class PostgresServer {
  constructor(dir) {
    this.dir = dir;
    this.handle = undefined;
    this.url = undefined;
  }
  async start() {
    const quiet = { info: () => undefined };
    this.handle = await startEmbeddedPostgres(this.dir, quiet);
    const url = this.handle.url;
    if (this.url && url !== this.url) throw new Error('embedded PostgreSQL came back on another port');
    this.url = url;
  }
  /** A fast shutdown (SIGINT): open transactions are rolled back, connections dropped. */
  async stop() {
    const h = this.handle;
    this.handle = undefined;
    await h?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// the service processes, restartable; each incarnation keeps its RSS samples
// ---------------------------------------------------------------------------------------------

const incarnations = [];

class Service {
  constructor(name, script, args, env) {
    Object.assign(this, { name, script, args, env, proc: undefined, n: 0 });
  }
  spawn() {
    const child = spawn(process.execPath, ['--import', 'tsx', this.script, ...this.args], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const errors = [];
    let partial = '';
    const keep = (chunk) => {
      const text = chunk.toString();
      output = (output + text).slice(-30_000);
      // error and fatal lines kept whole (the first 50): what a 500 was about
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (errors.length < 50 && /"level":"(error|fatal)"/.test(l)) errors.push(l.slice(0, 3000));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const inc = { name: this.name, n: ++this.n, pid: child.pid, startedAt: Date.now(), readyAt: undefined, endedAt: undefined, samples: [], log: () => output, errors };
    incarnations.push(inc);
    const proc = { child, exited, inc, killing: false };
    exited.then(({ code, signal }) => {
      inc.endedAt = Date.now();
      if (!proc.killing) say(`!! ${this.name} exited unexpectedly (code ${code}, signal ${signal}):\n${output.slice(-3000)}`);
    });
    this.proc = proc;
    return proc;
  }
  get alive() {
    return !!this.proc && this.proc.inc.endedAt === undefined;
  }
  async kill(signal = 'SIGKILL') {
    const p = this.proc;
    if (!p || p.inc.endedAt !== undefined) return;
    p.killing = true;
    p.child.kill(signal);
    const t = signal === 'SIGKILL' ? undefined : setTimeout(() => p.child.kill('SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(t);
  }
  /** Output of every incarnation: warnings and errors (LOG_LEVEL=warn). */
  logs() {
    return incarnations.filter((i) => i.name === this.name).map((i) => `--- ${i.name}#${i.n} ---\n${i.log()}`).join('\n');
  }
}

async function waitReady(base, svc, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!svc.alive) throw new Error(`${svc.name} exited before it was ready:\n${svc.proc?.inc.log().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${svc.name} not ready after ${timeoutMs} ms:\n${svc.proc.inc.log().slice(-3000)}`);
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (r.status === 200) {
        svc.proc.inc.readyAt = Date.now();
        return;
      }
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
}

/** The worker is ready when BullMQ's blocking connection of its `email` worker shows in CLIENT LIST. */
async function waitWorkerReady(redis, svc, timeoutMs = 90_000) {
  const name = `name=${PREFIX}bull:${Buffer.from('email').toString('base64')} `;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!svc.alive) throw new Error(`worker exited before it was ready:\n${svc.proc?.inc.log().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`worker not ready after ${timeoutMs} ms:\n${svc.proc.inc.log().slice(-3000)}`);
    try {
      if (String(await redis.command('CLIENT', 'LIST')).includes(name)) {
        svc.proc.inc.readyAt = Date.now();
        return;
      }
    } catch {
      // Redis restarting
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP and GraphQL with the accounting of every answer
// ---------------------------------------------------------------------------------------------

/** Every 5xx seen (HTTP status, or a GraphQL error coded INTERNAL_SERVER_ERROR / SERVICE_UNAVAILABLE). */
const fiveXX = [];
/** Per operation: ok, unavailable (503), transport (refused, reset, timeout), refused (4xx as expected), odd. */
const ops = {};
const tally = (op, outcome) => {
  ops[op] ??= { ok: 0, unavailable: 0, transport: 0, refused: 0, odd: 0, server: 0 };
  ops[op][outcome]++;
};
/** Answers that a correct service should not give (a live session refused, ...), with samples. */
const anomalies = [];
/** Sessions we held for live that `me` refused: looked up in PostgreSQL at the end. */
const refusedLive = [];
const anomaly = (what, detail) => {
  anomalies.push({ t: Date.now(), what, detail: String(detail).slice(0, 300) });
};

const instances = {};

/**
 * One request. Returns { kind: 'ok'|'unavailable'|'transport'|'refused'|'server', status, data, code }.
 * `kind` is what happened; the caller decides whether it was expected.
 */
async function request(instName, op, { method = 'POST', path, body, token, graphql }) {
  const inst = instances[instName];
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let status;
  let json;
  try {
    const r = await fetch(`${inst.base}${graphql ? '/graphql' : path}`, {
      method,
      headers: method === 'GET' ? (token ? { authorization: headers.authorization } : {}) : headers,
      body: method === 'GET' ? undefined : JSON.stringify(graphql ? { query: graphql.query, variables: graphql.variables } : (body ?? {})),
      signal: AbortSignal.timeout(15_000),
    });
    status = r.status;
    const text = await r.text();
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = { raw: text.slice(0, 200) };
    }
  } catch (e) {
    tally(op, 'transport');
    return { kind: 'transport', error: e?.cause?.code ?? e?.name ?? String(e) };
  }
  const gqlCode = graphql ? json?.errors?.[0]?.extensions?.code : undefined;
  const code = gqlCode ?? json?.code;
  const serverish = status >= 500 || code === 'INTERNAL_SERVER_ERROR' || code === 'SERVICE_UNAVAILABLE';
  if (serverish) {
    const effective = status >= 500 ? status : code === 'SERVICE_UNAVAILABLE' ? 503 : 500;
    fiveXX.push({ t: Date.now(), inst: instName, op, status: effective, code, message: String(json?.errors?.[0]?.message ?? json?.detail ?? '').slice(0, 200) });
    const kind = effective === 503 ? 'unavailable' : 'server';
    tally(op, kind);
    return { kind, status: effective, code };
  }
  if (status >= 200 && status < 300 && !json?.errors) {
    tally(op, 'ok');
    return { kind: 'ok', status, data: graphql ? json.data : json };
  }
  tally(op, 'refused');
  return { kind: 'refused', status, code, data: json };
}

const G = {
  register: 'mutation R($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id } } }',
  login: 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on AuthPayload { accessToken refreshToken } } }',
  refresh: 'mutation F($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }',
  me: 'query { me { id } }',
  revokeSession: 'mutation V($id: ID!) { revokeSession(id: $id) }',
  logout: 'mutation { logout }',
  verifyEmail: 'mutation E($t: String!) { verifyEmail(token: $t) { id } }',
  requestReset: 'mutation Q($e: String!) { requestPasswordReset(email: $e) }',
  resetPassword: 'mutation P($i: ResetPasswordInput!) { resetPassword(input: $i) }',
  events: 'query S($after: String) { securityEvents(first: 50, after: $after) { edges { node { id occurredAt } } pageInfo { endCursor hasNextPage } } }',
  onEvent: 'subscription { securityEvent { id type occurredAt } }',
};

const sidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).sid;
const expOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).exp * 1000;
const instNames = () => Object.keys(instances);

// ---------------------------------------------------------------------------------------------
// the model: accounts, their sessions, what was revoked
// ---------------------------------------------------------------------------------------------

/** username -> { username, email, password, id, tracked, resetting, sessions: Session[] } */
const users = new Map();
/** Sessions: { sid, user, access, refresh, state: 'live'|'busy'|'uncertain'|'revoked', pinned, revokedAt, how } */
const sessions = [];
const revoked = [];
let signUps = 0;

function addSession(user, payload, pinned = false) {
  const s = { sid: sidOf(payload.accessToken), user, access: payload.accessToken, refresh: payload.refreshToken, state: 'live', pinned };
  sessions.push(s);
  user.sessions.push(s);
  return s;
}

function markRevoked(s, how) {
  if (s.state === 'revoked') return;
  s.state = 'revoked';
  s.revokedAt = Date.now();
  s.how = how;
  revoked.push(s);
}

const liveSessions = (filter = () => true) => sessions.filter((s) => s.state === 'live' && !s.pinned && filter(s));

async function signUp() {
  const i = signUps++;
  const username = `soak${opt.seed}_${i}`;
  const user = { username, email: `${username}@example.com`, password: PASSWORD, tracked: false, resetting: false, sessions: [], verified: false };
  const inst = pick(instNames());
  const input = { username, email: user.email, password: PASSWORD };
  const r = rand() < 0.5
    ? await request(inst, 'signUp', { graphql: { query: G.register, variables: { i: input } } })
    : await request(inst, 'signUp', { path: '/auth/register', body: input });
  if (r.kind !== 'ok') {
    if (r.kind === 'refused') anomaly('sign-up refused', `${r.status} ${r.code}`);
    return;
  }
  const payload = r.data.register ?? r.data;
  user.id = payload.user.id;
  users.set(username, user);
  addSession(user, payload);
}

async function login(user, pinned = false, inst = pick(instNames())) {
  const input = { identifier: rand() < 0.5 ? user.username : user.email, password: user.password };
  const r = rand() < 0.5
    ? await request(inst, 'login', { graphql: { query: G.login, variables: { i: input } } })
    : await request(inst, 'login', { path: '/auth/login', body: input });
  if (r.kind === 'refused') anomaly('login refused', `${user.username} ${r.status} ${r.code}`);
  if (r.kind !== 'ok') return undefined;
  return addSession(user, r.data.login ?? r.data, pinned);
}

async function refresh(s) {
  s.state = 'busy';
  const inst = pick(instNames());
  const r = rand() < 0.5
    ? await request(inst, 'refresh', { graphql: { query: G.refresh, variables: { t: s.refresh } } })
    : await request(inst, 'refresh', { path: '/auth/refresh', body: { refreshToken: s.refresh } });
  if (s.state !== 'busy') return; // revoked meanwhile (a password reset)
  if (r.kind === 'ok') {
    const p = r.data.refresh ?? r.data;
    Object.assign(s, { access: p.accessToken, refresh: p.refreshToken, state: 'live', refreshes: (s.refreshes ?? 0) + 1 });
  } else if (r.kind === 'refused') {
    anomaly('refresh of a live session refused', `${r.status} ${r.code}`);
    s.state = 'uncertain';
  } else {
    // The rotation may or may not have happened: the token we hold may be spent. Not used again.
    s.state = 'uncertain';
  }
}

async function me(s) {
  const inst = pick(instNames());
  const r = rand() < 0.5 ? await request(inst, 'me', { graphql: { query: G.me }, token: s.access }) : await request(inst, 'me', { method: 'GET', path: '/auth/me', token: s.access });
  if (r.kind === 'refused' && s.state === 'live') {
    anomaly('me of a live session refused', `${r.status} ${r.code} on ${inst} at ${at()} s, session ${s.sid} of ${s.user.username} (${s.user.sessions.length} sessions, ${s.user.sessions.filter((x) => x.state === 'revoked').length} revoked; refreshed ${s.refreshes ?? 0}x)`);
    refusedLive.push(s.sid);
  }
}

/** Ends a session: by another session of the account (`revokeSession`) or by itself (`logout`). */
async function revoke(s) {
  s.state = 'busy';
  const other = s.user.sessions.find((o) => o !== s && o.state === 'live');
  const inst = pick(instNames());
  let r;
  let how;
  if (other && rand() < 0.6) {
    how = 'revokeSession';
    r = await request(inst, 'revoke', { graphql: { query: G.revokeSession, variables: { id: s.sid } }, token: other.access });
    if (r.kind === 'ok' && r.data.revokeSession !== true) anomaly('revokeSession answered false', s.sid);
  } else if (rand() < 0.5) {
    how = 'logout (GraphQL)';
    r = await request(inst, 'revoke', { graphql: { query: G.logout }, token: s.access });
  } else {
    how = 'logout (REST)';
    r = await request(inst, 'revoke', { path: '/auth/logout', body: {}, token: s.access });
  }
  if (s.state !== 'busy') return;
  if (r.kind === 'ok') markRevoked(s, how);
  else s.state = 'uncertain';
}

// ---------------------------------------------------------------------------------------------
// emails at the double: verification links followed, reset links used
// ---------------------------------------------------------------------------------------------

let double;
const templateOf = (e) => e.tags.find((t) => t.name === 'template')?.value;
const tokenOf = (e) => {
  for (const link of e.textLinks) {
    const t = new URL(link).searchParams.get('token');
    if (t) return t;
  }
  return undefined;
};
let mailCursor = 0;
const resetWaiters = new Map();
let verified = 0;

async function followMail() {
  const batch = double.delivered.slice(mailCursor);
  mailCursor += batch.length;
  for (const e of batch) {
    const tpl = templateOf(e);
    const address = e.to[0]?.toLowerCase();
    const user = users.get(address?.split('@')[0]);
    if (tpl === 'reset-password') resetWaiters.get(address)?.(e);
    else if (tpl === 'verify-email' && user && !user.verified && rand() < 0.5) {
      const token = tokenOf(e);
      const r = await request(pick(instNames()), 'verifyEmail', { graphql: { query: G.verifyEmail, variables: { t: token } } });
      if (r.kind === 'ok') {
        user.verified = true;
        verified++;
      } else if (r.kind === 'refused') anomaly('verification link refused', `${r.status} ${r.code}`);
    }
  }
}

const resets = { requested: 0, mailed: 0, done: 0, mailMissing: 0 };

/** Password reset by the emailed link; every session of the account ends, and the new password signs in. */
async function passwordReset(user) {
  user.resetting = true;
  try {
    const got = new Promise((resolve) => resetWaiters.set(user.email, resolve));
    const r = await request(pick(instNames()), 'requestReset', { graphql: { query: G.requestReset, variables: { e: user.email } } });
    if (r.kind !== 'ok') return;
    resets.requested++;
    const mail = await Promise.race([got, sleep(60_000).then(() => undefined)]);
    if (!mail) {
      resets.mailMissing++;
      anomaly('reset email not received within 60 s', user.username);
      return;
    }
    resets.mailed++;
    const newPassword = `${PASSWORD}-${Math.floor(rand() * 1e9)}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const known = user.sessions.filter((s) => s.state !== 'revoked');
      const rr = await request(pick(instNames()), 'resetPassword', { graphql: { query: G.resetPassword, variables: { i: { token: tokenOf(mail), newPassword } } } });
      if (rr.kind === 'ok') {
        user.password = newPassword;
        for (const s of known) markRevoked(s, 'password reset');
        resets.done++;
        await login(user);
        return;
      }
      if (rr.kind === 'refused') {
        anomaly('reset link refused', `${rr.status} ${rr.code}`);
        return;
      }
      if (rr.kind === 'unavailable') anomaly('reset answered 503', `${rr.code} at ${at()} s`);
      await sleep(2_000);
    }
  } finally {
    resetWaiters.delete(user.email);
    user.resetting = false;
  }
}

// ---------------------------------------------------------------------------------------------
// revocation probes: a revoked session must fail everywhere, by access token and by refresh token
// ---------------------------------------------------------------------------------------------

const probes = { total: 0, refused: 0, unavailable: 0, transport: 0, violations: 0, afterFlush: 0, afterFlushViolations: 0, samples: [] };
let flushedAt;

async function probe(s) {
  const checks = [];
  for (const inst of instNames()) {
    checks.push(['me GraphQL', inst, () => request(inst, 'probe', { graphql: { query: G.me }, token: s.access })]);
    checks.push(['me REST', inst, () => request(inst, 'probe', { method: 'GET', path: '/auth/me', token: s.access })]);
  }
  const inst = pick(instNames());
  checks.push(['refresh GraphQL', inst, () => request(inst, 'probe', { graphql: { query: G.refresh, variables: { t: s.refresh } } })]);
  checks.push(['refresh REST', inst, () => request(inst, 'probe', { path: '/auth/refresh', body: { refreshToken: s.refresh } })]);
  await Promise.all(
    checks.map(async ([what, where, run]) => {
      const r = await run();
      probes.total++;
      const after = flushedAt !== undefined && s.revokedAt < flushedAt;
      if (after) probes.afterFlush++;
      if (r.kind === 'ok') {
        probes.violations++;
        if (after) probes.afterFlushViolations++;
        if (probes.samples.length < 5) probes.samples.push(`${what} on ${where} worked for a session revoked by ${s.how} ${((Date.now() - s.revokedAt) / 1000).toFixed(1)} s before`);
      } else if (r.kind === 'unavailable') probes.unavailable++;
      else if (r.kind === 'transport') probes.transport++;
      else probes.refused++;
    }),
  );
}

let probeCursor = 0;
async function probeSome(n) {
  for (let i = 0; i < n && revoked.length; i++) await probe(revoked[probeCursor++ % revoked.length]);
}

// ---------------------------------------------------------------------------------------------
// subscribers: a socket per watched account on each instance, reconnecting and paging after a drop
// ---------------------------------------------------------------------------------------------

const subscribers = [];

class Subscriber {
  constructor(user, inst, session) {
    Object.assign(this, { user, inst, session, received: new Map(), paged: new Set(), intervals: [], current: undefined, client: undefined, closes: {}, reconnects: 0, stopped: false });
  }
  async run() {
    let backoff = 250;
    while (!this.stopped) {
      const closed = await this.connectOnce();
      if (this.stopped) return;
      this.closes[closed] = (this.closes[closed] ?? 0) + 1;
      this.reconnects++;
      await sleep(backoff);
      backoff = closed === 'connected' ? 250 : Math.min(3_000, backoff * 2);
    }
  }
  /** One socket's life; resolves with how it ended ('connected' when it had been up). */
  async connectOnce() {
    if (expOf(this.session.access) - Date.now() < 120_000) await this.renew();
    const inst = instances[this.inst];
    let wasUp = false;
    let isClosed = false;
    let interval;
    return new Promise((resolve) => {
      const client = createClient({
        url: inst.base.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => undefined,
        connectionParams: { authorization: `Bearer ${this.session.access}` },
        on: {
          connected: () => {
            wasUp = true;
            // The subscription is registered right after the ack; page what was committed until now, and
            // count the socket as listening from the moment of that page.
            setTimeout(async () => {
              if (this.stopped) return;
              const from = Date.now();
              const paged = await this.page();
              if (isClosed) return;
              if (paged) {
                interval = { from, to: Infinity, inst: this.inst };
                this.intervals.push(interval);
                this.current = interval;
              } else client.dispose();
            }, 300);
          },
          closed: (e) => {
            isClosed = true;
            if (interval) interval.to = Date.now();
            this.current = undefined;
            resolve(wasUp ? 'connected' : `refused ${e?.code ?? ''}`.trim());
          },
        },
      });
      this.client = client;
      client.subscribe(
        { query: G.onEvent },
        {
          next: ({ data }) => {
            const e = data?.securityEvent;
            if (e && !this.received.has(e.id)) this.received.set(e.id, { at: Date.now(), occurredAt: Date.parse(e.occurredAt) });
          },
          error: () => client.dispose(),
          complete: () => client.dispose(),
        },
      );
    });
  }
  /** Every event of the account, newest first, by `securityEvents` pages on this subscriber's instance. */
  async page() {
    let after = null;
    for (let pages = 0; pages < 100; pages++) {
      const r = await request(this.inst, 'page events', { graphql: { query: G.events, variables: { after } }, token: this.session.access });
      if (r.kind !== 'ok') return false;
      const conn = r.data.securityEvents;
      for (const edge of conn.edges) this.paged.add(edge.node.id);
      if (!conn.pageInfo.hasNextPage) return true;
      after = conn.pageInfo.endCursor;
    }
    return true;
  }
  async renew() {
    const r = await request(this.inst, 'refresh', { graphql: { query: G.refresh, variables: { t: this.session.refresh } } });
    if (r.kind === 'ok') Object.assign(this.session, { access: r.data.refresh.accessToken, refresh: r.data.refresh.refreshToken });
  }
  stop() {
    this.stopped = true;
    this.client?.dispose();
    if (this.current) this.current.to = Date.now();
  }
}

// ---------------------------------------------------------------------------------------------
// chaos
// ---------------------------------------------------------------------------------------------

/** Outage windows: { kind, scope ('all' | instance name | 'none'), start, end, allow503, detail }. */
const windows = [];
const faults = [];

async function hangSendsUntilInFlight(timeoutMs = 15_000) {
  const hungBefore = double.requests.filter((r) => r.outcome === 'hung').length;
  double.hangNext(Infinity);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = double.requests.filter((r) => r.outcome === 'hung').length - hungBefore;
    if (n > 0) return n;
    await sleep(50);
  }
  return 0;
}

function makeFaults(ctx) {
  const { redis, postgres, services, redisClientReady } = ctx;
  /**
   * The worker frozen (SIGSTOP) for a moment, so that email jobs wait in BullMQ when Redis loses them (a
   * worker that is merely busy would have them too); it resumes (SIGCONT) once Redis is back or flushed.
   */
  const freezeWorker = async (ms) => {
    services.worker.proc.child.kill('SIGSTOP');
    await sleep(ms);
    return String(await redis.command('LLEN', `${PREFIX}bull:email:wait`).catch(() => '?'));
  };
  const thawWorker = () => services.worker.proc.child.kill('SIGCONT');
  const restartApi = async (name) => {
    const svc = services[name];
    // The instance itself is out (refused connections). Its start-up takes a core for seconds on a 2-core box:
    // an instance starved of CPU sheds load (a transaction that gets no connection in time answers 503).
    const w = { kind: `SIGKILL ${name}`, scope: 'all', start: Date.now(), allow503: true };
    windows.push(w);
    await svc.kill('SIGKILL');
    await sleep(1_000);
    svc.spawn();
    await waitReady(instances[name].base, svc);
    w.end = Date.now();
    return `down ${((w.end - w.start) / 1000).toFixed(1)} s (restart to ready)`;
  };
  return {
    'api-kill': () => restartApi('b'),
    'worker-kill': async () => {
      const w = { kind: 'SIGKILL worker', scope: 'all', start: Date.now(), allow503: true };
      windows.push(w);
      const inFlight = await hangSendsUntilInFlight();
      await services.worker.kill('SIGKILL');
      await sleep(300); // the held responses' sockets close: releasing them delivers nothing
      double.releaseHangs();
      await sleep(700);
      services.worker.spawn();
      await waitWorkerReady(redis, services.worker);
      w.end = Date.now();
      return `${inFlight} send(s) in flight at the kill; back in ${((w.end - w.start) / 1000).toFixed(1)} s`;
    },
    'redis-restart': async () => {
      const waiting = await freezeWorker(2_500);
      const w = { kind: 'Redis restart', scope: 'all', start: Date.now(), allow503: true };
      windows.push(w);
      try {
        await redis.stop();
        await sleep(1_500);
        await redis.start();
      } finally {
        thawWorker();
      }
      await redisClientReady();
      w.end = Date.now();
      return `${waiting} email job(s) waiting (worker frozen) when it died; down ${((w.end - w.start) / 1000).toFixed(1)} s`;
    },
    'redis-flush': async () => {
      const waiting = await freezeWorker(2_500);
      const keys = await redis.command('DBSIZE');
      const w = { kind: 'Redis FLUSHALL', scope: 'all', start: Date.now(), allow503: false };
      windows.push(w);
      try {
        await redis.command('FLUSHALL');
      } finally {
        thawWorker();
      }
      flushedAt = Date.now();
      w.end = Date.now();
      // Every session revoked so far, probed everywhere now that Redis has forgotten every marker.
      const before = revoked.length;
      const all = revoked.slice(0, before);
      for (let i = 0; i < all.length; i += 4) await Promise.all(all.slice(i, i + 4).map(probe));
      return `${keys} keys flushed (${waiting} email job(s) waiting, worker frozen); ${before} revoked session(s) probed right after`;
    },
    'pg-stop': async () => {
      const w = { kind: 'PostgreSQL stopped', scope: 'all', start: Date.now(), allow503: true };
      windows.push(w);
      await postgres.stop();
      await sleep(10_000);
      await postgres.start();
      w.end = Date.now();
      return `down ${((w.end - w.start) / 1000).toFixed(1)} s`;
    },
  };
}

/** Faults per kind (FLUSHALL once), spread over the run: a 60 s run has one of each. */
function schedule() {
  const each = Math.max(1, Math.round(RUN_S / 100));
  const kinds = opt.faults ? String(opt.faults).split(',') : undefined;
  const order = ['api-kill', 'worker-kill', 'redis-restart', 'pg-stop'].filter((k) => !kinds || kinds.includes(k));
  const list = [];
  for (let i = 0; i < each; i++) for (const k of order) list.push(k);
  // FLUSHALL once, in the middle.
  if (!kinds || kinds.includes('redis-flush')) list.splice(Math.min(list.length, Math.max(3, Math.floor(list.length / 2))), 0, 'redis-flush');
  const slot = (RUN_S * FAULT_SHARE - 6) / list.length;
  return list.map((kind, i) => ({ kind, atS: Math.round(4 + i * slot) }));
}

// ---------------------------------------------------------------------------------------------
// accounting
// ---------------------------------------------------------------------------------------------

/** Least-squares slope of (t ms, bytes) in MiB/min. */
function slope(samples) {
  const n = samples.length;
  if (n < 3) return NaN;
  const mx = samples.reduce((a, [t]) => a + t, 0) / n;
  const my = samples.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, y] of samples) {
    num += (t - mx) * (y - my);
    den += (t - mx) ** 2;
  }
  return den === 0 ? NaN : ((num / den) * 60_000) / MiB;
}

async function verificationCheck(dbUrl) {
  const rows = await queryPg(dbUrl, 'SELECT lower(email::text) AS email FROM users');
  const counts = new Map(rows.map((r) => [r.email, 0]));
  const keys = new Map();
  for (const e of double.delivered) {
    if (templateOf(e) !== 'verify-email') continue;
    for (const to of e.to) {
      const a = to.toLowerCase();
      if (!counts.has(a)) continue;
      counts.set(a, counts.get(a) + 1);
      keys.set(a, (keys.get(a) ?? new Set()).add(e.idempotencyKey));
    }
  }
  const missing = [...counts].filter(([, n]) => n === 0).map(([a]) => a);
  const dup = [...counts].filter(([, n]) => n > 1).map(([a]) => a);
  const replays = double.requests.filter((r) => r.outcome === 'replayed').length;
  return { accounts: counts.size, exactlyOne: [...counts.values()].filter((n) => n === 1).length, missing, dup, replays };
}

async function eventsCheck(dbUrl) {
  const ids = [...new Set(subscribers.map((s) => s.user.id))];
  const rows = await queryPg(dbUrl, 'SELECT id::text, user_id::text, occurred_at, type::text FROM security_events WHERE user_id = ANY($1::uuid[])', [ids]);
  const byUser = new Map();
  for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
  const out = { events: rows.length, pairs: 0, live: 0, paged: 0, missedWhileConnected: 0, missing: 0, samples: [] };
  for (const sub of subscribers) {
    for (const e of byUser.get(sub.user.id) ?? []) {
      out.pairs++;
      const t = e.occurred_at.getTime();
      if (sub.received.has(e.id)) {
        out.live++;
        continue;
      }
      const through = sub.intervals.some((i) => i.from <= t - 1_000 && i.to >= t + LIVE_SLACK_MS);
      if (through) {
        out.missedWhileConnected++;
        if (out.samples.length < 5) out.samples.push(`${e.type} ${e.id} at ${((t - T0) / 1000).toFixed(1)} s not delivered live to the subscriber on ${sub.inst}, connected through it`);
      } else if (sub.paged.has(e.id)) out.paged++;
      else {
        out.missing++;
        if (out.samples.length < 5) out.samples.push(`${e.type} ${e.id} at ${((t - T0) / 1000).toFixed(1)} s neither delivered nor paged on ${sub.inst}`);
      }
    }
  }
  return out;
}

/** Whether every watched event has reached every subscriber (live, or paged after a reconnect). */
async function eventsSettled(dbUrl) {
  const c = await eventsCheck(dbUrl).catch(() => undefined);
  return c && c.missing === 0 && c.missedWhileConnected === 0 && subscribers.every((s) => s.current);
}

function fiveXXCheck() {
  const inWindow = (x) =>
    windows.some((w) => w.allow503 && (w.scope === 'all' || w.scope === x.inst) && x.t >= w.start && x.t <= (w.end ?? Infinity) + OUTAGE_GRACE_MS);
  const non503 = fiveXX.filter((x) => x.status !== 503);
  const outside = fiveXX.filter((x) => x.status === 503 && !inWindow(x));
  return { total: fiveXX.length, s503: fiveXX.filter((x) => x.status === 503).length, non503, outside };
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async function run() {
  const tmp = await mkdtemp(join(tmpdir(), 'latchkey-soak-'));
  onCleanup(() => rm(tmp, { recursive: true, force: true }));
  await chmod(tmp, 0o711); // the postgres user walks through it to its cluster

  say(`soak: ${RUN_S} s of traffic, drain up to ${DRAIN_S} s, seed ${opt.seed}; state in ${tmp}`);
  double = await startResendDouble();
  onCleanup(() => double.close());

  const redis = new RedisServer(await freePort());
  onCleanup(() => redis.stop());
  await redis.start();

  const postgres = new PostgresServer(join(tmp, 'pg'));
  onCleanup(() => postgres.stop());
  await postgres.start();
  say(`PostgreSQL (embedded) and redis-server :${redis.port} up`);

  const ports = { a: await freePort(), b: await freePort() };
  const baseEnv = {
    ...process.env,
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    HOST: '127.0.0.1',
    // One issuer for the deployment (the access tokens' `iss`): a token of one instance works on the other.
    PUBLIC_URL: `http://127.0.0.1:${ports.a}`,
    LOG_LEVEL: 'warn',
    DATA_DIR: join(tmp, 'data'),
    BCRYPT_COST: '4',
    ...BENCH_LIMITS,
    RATE_LIMIT_RESET_REQUEST: '1000000/60',
    RATE_LIMIT_VERIFY_RESEND: '1000000/60',
    RATE_LIMIT_REAUTH: '1000000/60',
    // Given, not generated in DATA_DIR by the first process to start: all three start at once.
    APP_SECRET: randomBytes(48).toString('base64'),
    JWT_PRIVATE_KEYS: JSON.stringify({ keys: [await generateSigningJwk()] }),
    RESEND_API_KEY: 're_soak',
    RESEND_BASE_URL: double.url,
    EMAIL_RETRY_DELAY_MS: '200',
    OUTBOX_POLL_MS: '500',
    // A killed worker's job is retried by the next one after this long.
    JOB_LOCK_MS: '4000',
  };
  delete baseEnv.NODE_ENV;
  const services = {
    a: new Service('api-a', 'src/main.ts', ['--role=api'], { ...baseEnv, PORT: String(ports.a) }),
    b: new Service('api-b', 'src/main.ts', ['--role=api'], { ...baseEnv, PORT: String(ports.b) }),
    worker: new Service('worker', 'src/worker.ts', [], { ...baseEnv, PORT: String(await freePort()) }),
  };
  onCleanup(async () => {
    for (const s of Object.values(services)) await s.kill('SIGTERM');
  });
  for (const k of ['a', 'b']) instances[k] = { base: `http://127.0.0.1:${ports[k]}` };

  // All at once: the first to take the migration lock migrates, the others wait on it.
  for (const svc of Object.values(services)) svc.spawn();
  await Promise.all([waitReady(instances.a.base, services.a), waitReady(instances.b.base, services.b), waitWorkerReady(redis, services.worker)]);
  say('api-a, api-b and the worker are ready');

  // RSS of every service process (and of Redis and PostgreSQL, for the record).
  const sampler = setInterval(() => {
    const now = Date.now();
    for (const inc of incarnations) {
      if (inc.endedAt !== undefined) continue;
      const rss = rssOf(inc.pid);
      if (Number.isFinite(rss)) inc.samples.push([now, rss]);
    }
  }, opt.sampleMs);
  onCleanup(() => clearInterval(sampler));

  const redisClientReady = async () => {
    for (const name of ['a', 'b']) await waitReady(instances[name].base, services[name], 60_000);
  };

  // watched accounts and their subscribers, one on each instance
  for (let i = 0; i < opt.tracked; i++) await signUp();
  const tracked = [...users.values()].slice(0, opt.tracked);
  for (const user of tracked) {
    user.tracked = true;
    for (const inst of ['a', 'b']) {
      const s = await login(user, true, inst);
      if (!s) throw new Error('could not sign a watched account in');
      const sub = new Subscriber(user, inst, s);
      subscribers.push(sub);
      sub.run();
    }
  }
  const settleDeadline = Date.now() + 10_000;
  while (!subscribers.every((s) => s.current) && Date.now() < settleDeadline) await sleep(100);
  say(`${subscribers.length} subscribers connected`);

  // traffic
  const tStart = Date.now();
  const tEnd = tStart + RUN_S * 1000;
  let stop = false;
  let inFlight = 0;
  const MAX_IN_FLIGHT = 24;
  const fire = (fn) => {
    if (inFlight >= MAX_IN_FLIGHT) return;
    inFlight++;
    fn()
      .catch((e) => anomaly('traffic error', e?.stack ?? e))
      .finally(() => inFlight--);
  };
  const every = (perSecond, fn) => {
    (async () => {
      while (!stop) {
        await sleep((1000 / perSecond) * (0.5 + rand()));
        if (!stop) fire(fn);
      }
    })();
  };
  every(opt.signupRate, signUp);
  every(1.5, async () => {
    const candidates = [...users.values()].filter((u) => !u.tracked && !u.resetting);
    if (candidates.length) await login(pick(candidates));
  });
  every(2, async () => {
    const s = liveSessions();
    if (s.length) await refresh(pick(s));
  });
  every(4, async () => {
    const s = liveSessions();
    if (s.length) await me(pick(s));
  });
  every(0.7, async () => {
    const s = liveSessions((x) => !x.user.tracked);
    if (s.length > 5) await revoke(pick(s));
  });
  every(0.2, async () => {
    const candidates = [...users.values()].filter((u) => !u.tracked && !u.resetting && u.sessions.some((s) => s.state === 'live'));
    if (candidates.length) await passwordReset(pick(candidates));
  });
  // the watched accounts: a sign-in, then that session ends (SIGNED_IN, then SIGNED_OUT or SESSION_REVOKED)
  every(0.6, async () => {
    const user = pick(tracked);
    const open = user.sessions.filter((s) => s.state === 'live' && !s.pinned);
    if (open.length && rand() < 0.5) await revoke(pick(open));
    else await login(user);
  });
  every(2, async () => {
    await probeSome(1);
  });
  const mailLoop = (async () => {
    while (!stop) {
      await followMail().catch((e) => anomaly('mail follower', e?.message ?? e));
      await sleep(200);
    }
  })();

  // chaos, one fault after the other, each not before its time
  const runFault = makeFaults({ redis, postgres, services, redisClientReady });
  for (const f of schedule()) {
    const wait = tStart + f.atS * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    const t = (Date.now() - tStart) / 1000;
    say(`fault: ${f.kind}`);
    try {
      const detail = await runFault[f.kind]();
      faults.push({ fault: f.kind, 'at s': t.toFixed(1), 'took s': ((Date.now() - tStart) / 1000 - t).toFixed(1), detail });
      say(`  ${f.kind}: ${detail}`);
    } catch (e) {
      faults.push({ fault: f.kind, 'at s': t.toFixed(1), 'took s': '-', detail: `FAILED: ${String(e?.message ?? e).slice(0, 300)}` });
      throw e;
    }
  }
  const rest = tEnd - Date.now();
  if (rest > 0) await sleep(rest);
  stop = true;
  const trafficS = (Date.now() - tStart) / 1000;
  say(`traffic stopped after ${trafficS.toFixed(0)} s; draining (up to ${DRAIN_S} s)`);

  // drain: every account's verification email, every watched event at every subscriber
  const drainStart = Date.now();
  let drained = false;
  while (Date.now() - drainStart < DRAIN_S * 1000) {
    while (inFlight > 0 && Date.now() - drainStart < DRAIN_S * 1000) await sleep(100);
    const v = await verificationCheck(postgres.url).catch(() => undefined);
    if (v && v.missing.length === 0 && (await eventsSettled(postgres.url))) {
      drained = true;
      break;
    }
    await sleep(1_000);
  }
  await sleep(3_000); // late duplicates, if any, arrive now
  await mailLoop;
  const drainS = (Date.now() - drainStart) / 1000;
  say(`drain ${drained ? 'complete' : 'timed out'} after ${drainS.toFixed(0)} s`);
  // the last word on revocations: every revoked session once more, on every door
  for (let i = 0; i < revoked.length; i += 4) await Promise.all(revoked.slice(i, i + 4).map(probe));
  clearInterval(sampler);
  for (const s of subscribers) s.stop();

  // ------------------------------------------------------------------ accounting
  const v = await verificationCheck(postgres.url);
  const ev = await eventsCheck(postgres.url);
  const fx = fiveXXCheck();
  const outbox = await queryPg(postgres.url, `SELECT count(*) FILTER (WHERE dispatched_at IS NULL)::int AS pending, count(*)::int AS total FROM outbox_messages`);
  const emailRows = await queryPg(postgres.url, `SELECT status::text, count(*)::int AS n FROM email_messages GROUP BY 1 ORDER BY 1`);

  const rssRows = [];
  let rssOk = true;
  for (const name of ['api-a', 'api-b', 'worker']) {
    const incs = incarnations.filter((i) => i.name === name);
    const span = (after) => (after.length ? after.at(-1)[0] - after[0][0] : 0);
    const judged = incs
      .map((i) => ({ i, after: i.samples.filter(([t]) => t >= (i.readyAt ?? i.startedAt) + WARMUP_S * 1000) }))
      .filter((x) => span(x.after) >= RSS_MIN_SPAN_MS)
      .sort((x, y) => y.after.length - x.after.length)[0];
    for (const i of incs) {
      const after = i.samples.filter(([t]) => t >= (i.readyAt ?? i.startedAt) + WARMUP_S * 1000);
      const s = slope(after);
      const isJudged = judged?.i === i;
      const ok = !isJudged || s <= RSS_SLOPE_MAX;
      if (!ok) rssOk = false;
      rssRows.push({
        process: `${name}#${i.n}`,
        'lived s': (((i.endedAt ?? Date.now()) - i.startedAt) / 1000).toFixed(0),
        'samples after warm-up': after.length,
        'RSS first → last MiB': after.length ? `${(after[0][1] / MiB).toFixed(0)} → ${(after.at(-1)[1] / MiB).toFixed(0)}` : '-',
        'max MiB': i.samples.length ? (Math.max(...i.samples.map(([, y]) => y)) / MiB).toFixed(0) : '-',
        'slope MiB/min': Number.isFinite(s) ? s.toFixed(2) : '-',
        judged: isJudged ? (ok ? `yes, ≤ ${RSS_SLOPE_MAX}: ok` : `yes, > ${RSS_SLOPE_MAX}: FAIL`) : `no (another lived longer, or under ${RSS_MIN_SPAN_MS / 1000} s after warm-up)`,
      });
    }
    // A long run always has an incarnation of each process that lived long enough; a short one may not.
    if (!judged && RUN_S >= 300) {
      rssOk = false;
      rssRows.push({ process: name, judged: 'FAIL: no incarnation lived long enough after warm-up to judge' });
    }
  }

  const checks = [
    {
      check: 'one verification email per account',
      result: v.missing.length === 0 && v.dup.length === 0 ? 'pass' : 'FAIL',
      counts: `${v.accounts} accounts in PostgreSQL: ${v.exactlyOne} with exactly one, ${v.missing.length} with none, ${v.dup.length} with more; ${v.replays} idempotent replays absorbed by the double`,
    },
    {
      check: 'security events reach subscribers',
      result: ev.missing === 0 && ev.missedWhileConnected === 0 ? 'pass' : 'FAIL',
      counts: `${ev.events} events × their subscribers = ${ev.pairs}: ${ev.live} live, ${ev.paged} paged after reconnect, ${ev.missedWhileConnected} missed while connected, ${ev.missing} missing; reconnects ${subscribers.reduce((a, s) => a + s.reconnects, 0)}`,
    },
    {
      check: 'no revoked session works',
      result: probes.violations === 0 ? 'pass' : 'FAIL',
      counts: `${revoked.length} revoked sessions, ${probes.total} probes (${probes.afterFlush} of sessions revoked before the FLUSHALL, after it): ${probes.refused} refused, ${probes.unavailable} 503, ${probes.transport} no answer, ${probes.violations} worked`,
    },
    {
      check: 'no 5xx but 503 in an outage',
      result: fx.non503.length === 0 && fx.outside.length === 0 ? 'pass' : 'FAIL',
      counts: `${fx.total} 5xx: ${fx.s503} 503 (${fx.outside.length} outside an outage window), ${fx.non503.length} other`,
    },
    {
      check: `RSS flat after warm-up (${WARMUP_S.toFixed(0)} s)`,
      result: rssOk ? 'pass' : 'FAIL',
      counts: rssRows.filter((r) => String(r.judged).startsWith('yes')).map((r) => `${r.process} ${r['slope MiB/min']} MiB/min`).join(', ') + ` (threshold ${RSS_SLOPE_MAX} MiB/min)`,
    },
  ];

  const opRows = Object.entries(ops).map(([op, c]) => ({ op, ...c }));
  const windowRows = windows.map((w) => ({
    window: w.kind,
    scope: w.scope,
    'from s': ((w.start - tStart) / 1000).toFixed(1),
    'to s': w.end ? ((w.end - tStart) / 1000).toFixed(1) : '-',
    '503 allowed': w.allow503 ? `yes (+${OUTAGE_GRACE_MS / 1000} s)` : 'no',
    '503s in it': fiveXX.filter((x) => x.status === 503 && x.t >= w.start && x.t <= (w.end ?? Infinity) + OUTAGE_GRACE_MS).length,
  }));
  const details = [];
  if (v.missing.length) details.push(`accounts without a verification email: ${v.missing.slice(0, 5).join(', ')}`);
  if (v.dup.length) details.push(`accounts with several: ${v.dup.slice(0, 5).join(', ')}`);
  details.push(...ev.samples, ...probes.samples);
  for (const x of [...fx.non503, ...fx.outside].slice(0, 8)) details.push(`${x.status} (${x.code ?? '-'}) on ${x.inst} ${x.op} at ${((x.t - tStart) / 1000).toFixed(1)} s: ${x.message}`);
  if (refusedLive.length) {
    const rows = await queryPg(postgres.url, `SELECT id::text, revoked_at, revoke_reason, expires_at, idle_expires_at FROM sessions WHERE id = ANY($1::uuid[])`, [refusedLive.slice(0, 10)]);
    for (const r of rows) anomaly('refused session in PostgreSQL', `${r.id}: revoked ${r.revoked_at ? `${((r.revoked_at.getTime() - tStart) / 1000).toFixed(1)} s (${r.revoke_reason})` : 'no'}`);
    if (!rows.length) anomaly('refused session in PostgreSQL', 'no such rows');
  }
  const errorLines = incarnations.flatMap((i) => i.errors.map((l) => `${i.name}#${i.n}: ${l}`));
  if (fx.non503.length || fx.outside.length) details.push(...errorLines.slice(0, 6).map((l) => l.slice(0, 1500)));
  const anomalyCounts = {};
  for (const a of anomalies) anomalyCounts[a.what] = (anomalyCounts[a.what] ?? 0) + 1;

  const out = [
    `## soak: ${(trafficS / 60).toFixed(1)} min of traffic, drain ${drainS.toFixed(0)} s${drained ? '' : ' (timed out)'}, seed ${opt.seed}`,
    '',
    table(checks),
    '',
    'Faults',
    '',
    table(faults),
    '',
    'Outage windows',
    '',
    table(windowRows),
    '',
    `Traffic (answers by kind): ${users.size} sign-ups answered, ${verified} verified by link, ${resets.done}/${resets.requested} password resets done (${resets.mailMissing} reset emails missing), ${revoked.length} sessions revoked, ${subscribers.length} subscribers`,
    '',
    table(opRows),
    '',
    'RSS per process (sampled every ' + opt.sampleMs / 1000 + ' s; slope by least squares after warm-up)',
    '',
    table(rssRows),
    '',
    `Rows at the end: email_messages ${JSON.stringify(Object.fromEntries(emailRows.map((r) => [r.status, r.n])))}, outbox ${outbox[0].pending} pending of ${outbox[0].total}`,
    Object.keys(anomalyCounts).length ? `Anomalies (not failures by themselves): ${JSON.stringify(anomalyCounts)}; e.g.\n${anomalies.slice(0, +(process.env.SOAK_ANOMALIES ?? 3)).map((a) => `  ${a.what}: ${a.detail}`).join('\n')}` : 'Anomalies: none',
    `Error lines logged by the services: ${errorLines.length}`,
    ...(details.length ? ['', 'Details:', ...details.map((d) => `- ${d}`)] : []),
    '',
  ].join('\n');
  process.stdout.write(`\n${out}\n`);
  const failed = checks.filter((c) => c.result !== 'pass');
  if (failed.length) {
    const logs = Object.values(services).map((s) => s.logs()).join('\n').slice(-6000);
    process.stderr.write(`\nsoak FAILED: ${failed.map((c) => c.check).join('; ')}\nlast service output:\n${logs}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('soak passed\n');
  }
  process.stdout.write(`SOAK_RESULT ${JSON.stringify({ passed: !failed.length, checks, faults, rss: rssRows, ops, anomalies: anomalyCounts })}\n`);
}

try {
  await run();
} catch (e) {
  process.stderr.write(`soak aborted: ${e?.stack ?? e}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
  // graphql-ws clients or a stray timer would keep the process up
  setTimeout(() => process.exit(), 500).unref();
}
