// Does a login storm starve everything else? Logins flat out at BCRYPT_COST=12 (every bcrypt slot busy,
// a queue behind them) while a light `me` probe (fixed rate) measures latency; the same probe on the
// idle server is the baseline.
//   node bench/starvation.mjs [--cost=12] [--loginConnections=32] [--probeConnections=5] [--probeRate=100] [--duration=8]
// Target: me p99 < 50 ms during the storm.
import { args, fmtCpu, gqlRequest, load, log, main, PASSWORD, Q, registerUsers, report, startServer, table, waitForQuiet } from './lib.mjs';

// --maxOther: a storm during which other processes used more cores than this is run again (--retries times).
const opt = args({ cost: 12, loginConnections: 32, probeConnections: 5, probeRate: 100, duration: 8, warmup: 2, cpuProf: '', maxOther: 0.15, retries: 2 });
const TARGET_P99 = 50;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await main(async () => {
  const server = await startServer({
    bcryptCost: opt.cost,
    nodeArgs: opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}`] : [],
  });
  const users = await registerUsers(server.base, 8, { tag: 'st' });
  const probe = users.map((u) => gqlRequest(Q.me, undefined, { authorization: `Bearer ${u.accessToken}` }));
  const logins = users.map((u) => gqlRequest(Q.login, { i: { identifier: u.username, password: PASSWORD } }));
  const probeOpts = { connections: opt.probeConnections, overallRate: opt.probeRate, requests: probe };

  // Warm-up flat out (JIT, pools), so the idle baseline is not the server's first seconds.
  log(`warm-up ${opt.warmup}s`);
  await load(server.base, { connections: 20, requests: probe, duration: opt.warmup });
  log(`idle: me probe ${opt.probeConnections} connections @ ${opt.probeRate}/s x ${opt.duration}s`);
  const idle = await load(server.base, { ...probeOpts, duration: opt.duration, label: 'me, idle', quiet: true, serverPid: server.child.pid });

  log(`storm: login ${opt.loginConnections} connections at cost ${opt.cost}, probe after 2s`);
  let cpuIdleBeforeStorm, during, stormResult;
  for (let i = 0; i <= opt.retries; i++) {
    cpuIdleBeforeStorm = await waitForQuiet();
    // The storm starts first and outlasts the probe, so the probe sees a saturated server throughout.
    const storm = load(server.base, { requests: logins, connections: opt.loginConnections, duration: opt.duration + 4, label: `login storm (cost ${opt.cost})`, serverPid: server.child.pid });
    await sleep(2000);
    during = await load(server.base, { ...probeOpts, duration: opt.duration, label: 'me, during login storm' });
    stormResult = await storm;
    if ((stormResult.cpu?.other ?? 0) <= opt.maxOther) break;
    log(`storm disturbed (other work used ${stormResult.cpu.other} cores): measuring again`);
    await sleep(3000); // let the queued logins drain
  }
  await server.stop();

  const rows = [idle, during, stormResult].map((r) => ({
    load: r.label,
    connections: r.connections,
    'req/s': r.rps,
    'p50 ms': r.p50,
    'p90 ms': r.p90,
    'p99 ms': r.p99,
    'max ms': r.max,
    failed: r.failed,
    'cores used': fmtCpu(r.cpu),
  }));
  const pass = during.p99 < TARGET_P99;
  for (const r of [idle, during, stormResult]) if (r.failures) log(`failures (${r.label}): ${JSON.stringify(r.failures)}`);
  report(
    'starvation',
    `${table(rows)}\n\nme p99 during storm: ${during.p99} ms vs idle ${idle.p99} ms (target < ${TARGET_P99} ms: ${pass ? 'pass' : 'MISS'})`,
    { idle, during, storm: stormResult, cpuIdleBeforeStorm, target: { p99Ms: TARGET_P99 }, pass },
  );
});
