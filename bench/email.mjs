// Email delivery under sign-up load: how long a verification email takes to reach the provider after `register`
// answers, and sign-ups per second with the BullMQ worker in the API process versus in a process of its own.
//   node --import tsx bench/email.mjs [--count=200] [--rate=20] [--burst=200] [--duration=10] [--connections=16]
//                                     [--warmup=30] [--modes=all,split] [--drainTimeout=120] [--cpuProf=<dir>]
// For each mode (`all`: `src/main.ts`, workers in the same process; `split`: `src/main.ts --role=api` plus
// `src/worker.ts`), on a fresh database and Redis prefix, with the Resend HTTP double of the tests
// (src/test/resend-double.ts, hence `--import tsx`) in this process as RESEND_BASE_URL:
//   1. latency: `count` sign-ups sent at `rate`/s (open loop, so it measures latency, not queueing), then a
//      burst of `burst` sign-ups at once; for each, the time from its `register` response arriving here to
//      the double receiving that user's verification email;
//   2. throughput: `register` flat out for `duration` s (autocannon, `connections` connections, a fresh
//      identity in every request body), then waits until every sign-up's email has arrived (or
//      `drainTimeout` s) and counts emails in the double vs accounts in the database vs 200 responses.
import pg from 'pg';
import {
  args,
  cpuBreakdown,
  fmtCpu,
  gql,
  gqlRequest,
  latencySummary,
  load,
  loadNote,
  log,
  main,
  PASSWORD,
  processCpu,
  report,
  startServer,
  table,
  waitForQuiet,
} from './lib.mjs';

const opt = args({ count: 200, rate: 20, burst: 200, duration: 10, connections: 16, warmup: 30, modes: 'all,split', drainTimeout: 120, cpuProf: '' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LIMIT = '1000000/60';
const VERIFY_SUBJECT = /verify your email/i;

let resendDouble;
try {
  ({ startResendDouble: resendDouble } = await import('../src/test/resend-double.ts'));
} catch (e) {
  process.stderr.write(`bench/email.mjs imports src/test/resend-double.ts: run it with \`node --import tsx bench/email.mjs\` (${e.message})\n`);
  process.exit(2);
}

const REGISTER = 'mutation R($i: RegisterInput!) { register(input: $i) { accessToken } }';
const identity = (username) => ({ username, email: `${username}@example.com`, password: PASSWORD });

/** Addresses -> first verification email received for each, from the double's record. */
function verificationsByAddress(double) {
  const first = new Map();
  let duplicates = 0;
  for (const e of double.delivered) {
    if (!VERIFY_SUBJECT.test(e.subject)) continue;
    for (const to of e.to) {
      const a = to.toLowerCase();
      if (first.has(a)) duplicates++;
      else first.set(a, e);
    }
  }
  return { first, duplicates };
}

/** Waits until every address has its verification email, or the timeout; returns how long it took. */
async function waitForEmails(double, addresses, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const { first } = verificationsByAddress(double);
    const missing = addresses.filter((a) => !first.has(a)).length;
    if (missing === 0) return { missing: 0, waitedMs: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) return { missing, waitedMs: Date.now() - t0 };
    await sleep(50);
  }
}

/**
 * Sends sign-ups (`schedule[i]` = ms after start at which request i leaves; all 0 for a burst) and records,
 * per user, when its response arrived (wall clock, like the double's `receivedAt`).
 */
async function signUps(base, tag, schedule) {
  const t0 = Date.now();
  const results = await Promise.all(
    schedule.map(async (at, i) => {
      const wait = t0 + at - Date.now();
      if (wait > 0) await sleep(wait);
      const username = `${tag}${i}`;
      const sent = Date.now();
      const sentHr = performance.now();
      try {
        await gql(base, REGISTER, { i: identity(username) });
        return { address: `${username}@example.com`, sent, answered: Date.now(), responseMs: performance.now() - sentHr };
      } catch (e) {
        return { address: `${username}@example.com`, sent, error: String(e.message).slice(0, 200) };
      }
    }),
  );
  return { t0, results };
}

/** One latency measurement: sign-ups, then their emails; per-user delay from response to the double. */
async function latencyRun(server, double, tag, schedule, drainTimeoutMs, label) {
  const quietIdle = await waitForQuiet();
  const note = await loadNote();
  const cpu0 = processCpu();
  const t = performance.now();
  const { t0, results } = await signUps(server.base, tag, schedule);
  const ok = results.filter((r) => !r.error);
  const drained = await waitForEmails(double, ok.map((r) => r.address), drainTimeoutMs);
  const seconds = (performance.now() - t) / 1000;
  const cpu = cpuBreakdown(cpu0, processCpu(), seconds, { serverPid: server.child.pid, pids: server.worker ? { worker: server.worker.child.pid } : {} });
  const { first, duplicates } = verificationsByAddress(double);
  const delays = [];
  let lastEmail = 0;
  for (const r of ok) {
    const e = first.get(r.address);
    if (!e) continue;
    delays.push(e.receivedAt - r.answered);
    lastEmail = Math.max(lastEmail, e.receivedAt);
  }
  return {
    label,
    signUps: schedule.length,
    ok: ok.length,
    errors: results.filter((r) => r.error).slice(0, 3).map((r) => r.error),
    emailMs: latencySummary(delays),
    registerMs: latencySummary(ok.map((r) => r.responseMs)),
    /** Burst: from the first request leaving to the last email arriving. */
    firstSendToLastEmailMs: lastEmail ? lastEmail - t0 : null,
    missing: drained.missing,
    duplicateEmails: duplicates,
    cpu,
    cpuIdleBefore: quietIdle,
    load: note,
  };
}

async function countInDb(databaseUrl, tag) {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const users = Number((await c.query('SELECT count(*) FROM users WHERE username LIKE $1', [`${tag}%`])).rows[0].count);
    const { rows } = await c.query(
      `SELECT status::text, count(*)::int AS n FROM email_messages WHERE to_address LIKE $1 GROUP BY status ORDER BY status`,
      [`${tag}%`],
    );
    const outbox = Number((await c.query('SELECT count(*) FROM outbox_messages WHERE dispatched_at IS NULL')).rows[0].count);
    return { users, emailRows: Object.fromEntries(rows.map((r) => [r.status, r.n])), outboxPending: outbox };
  } finally {
    await c.end();
  }
}

async function runMode(mode, double) {
  const split = mode === 'split';
  log(`=== mode ${mode}: ${split ? 'src/main.ts --role=api + src/worker.ts' : 'src/main.ts (API + workers in one process)'}`);
  // One directory per process (`<dir>/all-server`, `<dir>/split-worker`, ...): a fixed --cpu-prof-name would
  // be shared by tsx's loader thread, whose profile then overwrites the main thread's.
  const prof = (name) => (opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}/${mode}-${name}`] : []);
  const server = await startServer({
    bcryptCost: 4,
    role: split ? 'api' : 'all',
    worker: split,
    nodeArgs: prof('server'),
    workerNodeArgs: prof('worker'),
    env: {
      RESEND_API_KEY: 're_bench',
      RESEND_BASE_URL: double.url,
      EMAIL_RETRY_DELAY_MS: '50',
      OUTBOX_POLL_MS: '200',
      RATE_LIMIT_REGISTER: LIMIT,
      RATE_LIMIT_LOGIN: LIMIT,
      RATE_LIMIT_LOGIN_IP: LIMIT,
      RATE_LIMIT_GENERAL: LIMIT,
      RATE_LIMIT_REFRESH: LIMIT,
    },
  });
  const m = mode[0];
  const pids = server.worker ? { worker: server.worker.child.pid } : {};
  const out = { mode };
  try {
    log(`warm-up: ${opt.warmup} sign-ups at ${opt.rate}/s`);
    const warm = await signUps(server.base, `w${m}_`, Array.from({ length: opt.warmup }, (_, i) => (i * 1000) / opt.rate));
    await waitForEmails(double, warm.results.filter((r) => !r.error).map((r) => r.address), 30_000);

    log(`latency: ${opt.count} sign-ups at ${opt.rate}/s`);
    out.steady = await latencyRun(server, double, `s${m}_`, Array.from({ length: opt.count }, (_, i) => (i * 1000) / opt.rate), opt.drainTimeout * 1000, `${opt.count} at ${opt.rate}/s`);
    log(`latency: burst of ${opt.burst}`);
    out.burst = await latencyRun(server, double, `b${m}_`, Array.from({ length: opt.burst }, () => 0), opt.drainTimeout * 1000, `burst of ${opt.burst}`);

    log(`throughput: register flat out, ${opt.connections} connections x ${opt.duration}s`);
    const tag = `t${m}_`;
    let n = 0;
    const body = () => JSON.stringify({ query: REGISTER, variables: { i: identity(`${tag}${n++}`) } });
    const request = { ...gqlRequest(REGISTER, { i: identity('placeholder') }), setupRequest: (req) => ({ ...req, body: body() }) };
    const tp = await load(server.base, { requests: [request], connections: opt.connections, duration: opt.duration, label: `register (${mode})`, quiet: true, serverPid: server.child.pid, pids });
    const tDrain = performance.now();
    const cpu0 = processCpu();
    // Every account the database holds got (or is owed) an email; wait for them all.
    const db0 = await countInDb(server.db.url, tag);
    const addresses = [];
    for (let i = 0; i < n; i++) addresses.push(`${tag}${i}@example.com`);
    const expected = db0.users;
    let delivered = 0;
    for (;;) {
      const { first } = verificationsByAddress(double);
      delivered = addresses.filter((a) => first.has(a)).length;
      if (delivered >= expected || performance.now() - tDrain > opt.drainTimeout * 1000) break;
      await sleep(100);
    }
    const drainS = (performance.now() - tDrain) / 1000;
    const drainCpu = drainS >= 1 ? cpuBreakdown(cpu0, processCpu(), drainS, { serverPid: server.child.pid, pids }) : undefined;
    tp.load = await loadNote(); // also a second for late duplicates, if any
    const { duplicates } = verificationsByAddress(double);
    const db1 = await countInDb(server.db.url, tag);
    out.throughput = {
      ...tp,
      signUpsRequested: n,
      accountsInDb: db1.users,
      emailsDelivered: addresses.filter((a) => verificationsByAddress(double).first.has(a)).length,
      deliveredAtEnd: delivered,
      emailRows: db1.emailRows,
      outboxPending: db1.outboxPending,
      /** From the end of the run to the last email in the double (0: the worker kept up during the run). */
      drainSeconds: Number(drainS.toFixed(1)),
      drainCpu,
      duplicateEmails: duplicates,
    };
    const errLog = server.log().replace('--- worker ---', '').trim();
    if (errLog) out.serverLog = server.log().trim().slice(-3000);
  } finally {
    await server.stop();
  }
  return out;
}

await main(async () => {
  const double = await resendDouble();
  try {
    const modes = String(opt.modes).split(',');
    const runs = [];
    for (const mode of modes) runs.push(await runMode(mode, double));

    const latRows = runs.flatMap((r) =>
      [r.steady, r.burst].map((x) => ({
        mode: r.mode,
        load: x.label,
        'ok/sent': `${x.ok}/${x.signUps}`,
        'email p50 ms': x.emailMs.p50,
        'email p90 ms': x.emailMs.p90,
        'email p99 ms': x.emailMs.p99,
        'email max ms': x.emailMs.max,
        'register p50/p99 ms': `${x.registerMs.p50}/${x.registerMs.p99}`,
        'first send → last email ms': x.firstSendToLastEmailMs,
        missing: x.missing,
        dup: x.duplicateEmails,
        'cores used': fmtCpu(x.cpu),
        'load before': x.load,
      })),
    );
    const tpRows = runs.map((r) => {
      const t = r.throughput;
      return {
        mode: r.mode,
        'sign-ups/s': t.rps,
        'p50 ms': t.p50,
        'p99 ms': t.p99,
        failed: t.failed,
        '200s': t.ok,
        'accounts in db': t.accountsInDb,
        'emails delivered': t.emailsDelivered,
        'all delivered': t.emailsDelivered === t.accountsInDb ? 'yes' : 'NO',
        'drain s': t.drainSeconds,
        'email rows': JSON.stringify(t.emailRows),
        dup: t.duplicateEmails,
        'cores used (run)': fmtCpu(t.cpu),
        'cores used (drain)': t.drainCpu ? fmtCpu(t.drainCpu) : '-',
        'load after': t.load,
      };
    });
    const all = runs.find((r) => r.mode === 'all')?.throughput;
    const split = runs.find((r) => r.mode === 'split')?.throughput;
    const ratio = all && split ? split.rps / all.rps : undefined;
    for (const r of runs) {
      if (r.throughput.failures) log(`failures (${r.mode}): ${JSON.stringify(r.throughput.failures)}`);
      if (r.serverLog) log(`server log (${r.mode}, last lines):\n${r.serverLog}`);
    }
    report(
      'email',
      `Verification email latency (register response → Resend double received it)\n\n${table(latRows)}\n\n` +
        `Sign-up throughput, ${opt.connections} connections × ${opt.duration}s, then every email waited for\n\n${table(tpRows)}` +
        (ratio ? `\n\nseparate worker / in-process worker: ${ratio.toFixed(2)}×` : ''),
      { runs, ratio },
    );
  } finally {
    await double.close();
  }
});
