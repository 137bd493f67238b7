// Login throughput against the bcrypt ceiling of this machine.
//   node bench/login.mjs [--costs=10,12] [--connections=16] [--duration=8] [--users=16]
// For each cost: the ceiling (bench/bcrypt-ceiling.mjs: bcrypt.compare, 2 at a time, in a process of
// its own) is measured just before AND just after the login run and averaged, so background load on
// this shared 2-core box hits both sides alike. Target: login req/s >= 90% of the ceiling.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { args, gqlRequest, load, log, main, PASSWORD, pct, Q, registerUsers, processCpu, report, ROOT, startServer, table, waitForQuiet, fmtCpu } from './lib.mjs';

// --maxOther: a window where other processes used more cores than this is measured again (--retries times).
const opt = args({ costs: '10,12', connections: 16, duration: 8, users: 16, warmup: 2, cpuProf: '', maxOther: 0.15, retries: 2, concurrency: Math.min(availableParallelism(), 3) });
const costs = String(opt.costs).split(',').map(Number);

/** True when other work on the box used more than --maxOther cores during a window: measure again. */
const noisy = (otherCores) => otherCores > opt.maxOther;

async function ceilingOnce(cost, duration) {
  const cpuIdleBefore = await waitForQuiet();
  const m0 = processCpu().machine?.cpu;
  const t0 = performance.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['bench/bcrypt-ceiling.mjs', `--cost=${cost}`, `--concurrency=${opt.concurrency}`, `--duration=${duration}`],
    { cwd: ROOT },
  );
  const wall = (performance.now() - t0) / 1000;
  const r = JSON.parse(stdout.trim().split('\n').pop());
  // Machine busy time minus the ceiling process's own: what everything else took meanwhile.
  const other = m0 === undefined ? 0 : Math.max(0, (processCpu().machine.cpu - m0) / wall - (r.cores * r.seconds) / wall);
  return { ...r, cpuIdleBefore, otherCores: Number(other.toFixed(2)) };
}

async function ceiling(cost, duration) {
  let r;
  for (let i = 0; i <= opt.retries; i++) {
    r = await ceilingOnce(cost, duration);
    if (!noisy(r.otherCores)) break;
    log(`ceiling disturbed (other work used ${r.otherCores} cores): measuring again`);
  }
  return r;
}

await main(async () => {
  const rows = [];
  const results = [];
  for (const cost of costs) {
    log(`cost ${cost}: ceiling (before)`);
    const before = await ceiling(cost, opt.duration / 2);

    log(`cost ${cost}: starting server`);
    const server = await startServer({ bcryptCost: cost, nodeArgs: opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}`] : [] });
    const users = await registerUsers(server.base, opt.users, { tag: `c${cost}_` });
    // Each connection cycles through every account, so logins spread over users like real traffic.
    const requests = users.map((u) => gqlRequest(Q.login, { i: { identifier: u.username, password: PASSWORD } }));
    log(`cost ${cost}: warm-up ${opt.warmup}s`);
    await load(server.base, { requests, connections: opt.connections, duration: opt.warmup });
    log(`cost ${cost}: login ${opt.connections} connections x ${opt.duration}s`);
    let login;
    for (let i = 0; i <= opt.retries; i++) {
      login = await load(server.base, { requests, connections: opt.connections, duration: opt.duration, label: `login cost ${cost}`, quiet: true, serverPid: server.child.pid });
      if (!noisy(login.cpu?.other ?? 0)) break;
      log(`login run disturbed (other work used ${login.cpu.other} cores): measuring again`);
    }
    await server.stop();

    log(`cost ${cost}: ceiling (after)`);
    const after = await ceiling(cost, opt.duration / 2);
    const ceilingRps = (before.opsPerSec + after.opsPerSec) / 2;
    const ratio = login.rps / ceilingRps;
    results.push({ cost, login, ceiling: { before, after, opsPerSec: ceilingRps }, ratio, target: 0.9, pass: ratio >= 0.9 });
    rows.push({
      cost,
      'login req/s': login.rps,
      'p50 ms': login.p50,
      'p99 ms': login.p99,
      failed: login.failed,
      'ceiling ops/s (before/after)': `${ceilingRps.toFixed(1)} (${before.opsPerSec}/${after.opsPerSec})`,
      'other cores during ceilings': `${before.otherCores}/${after.otherCores}`,
      'bcrypt p50 ms': before.p50,
      'login/ceiling': pct(ratio),
      'target ≥90%': ratio >= 0.9 ? 'pass' : 'MISS',
      'cores used during login run': fmtCpu(login.cpu),
    });
    if (login.failures) log(`failures: ${JSON.stringify(login.failures)}`);
  }
  report(
    'login',
    `${opt.connections} connections, ${opt.duration}s per run, ${opt.users} accounts; ceiling = bcrypt.compare x${opt.concurrency} concurrent\n\n${table(rows)}`,
    { results },
  );
});
