// RSS of the built API server (`node dist/main.js --role=api`, as deployed) through a fixed sequence of
// phases, for one or more sets of node/V8 flags, alternating: what a flag gives back in memory and what it
// costs in CPU on the hottest path (`me`) and on sign-in.
//   node bench/memory.mjs [--variants='|--max-semi-space-size=8'] [--rounds=2] [--cost=10] [--duration=8]
// --variants: flag sets separated by `|` (an empty set is node's defaults; `npm run start:prod` and the
// Docker image add --max-old-space-size=1024 --max-semi-space-size=8, chosen with this bench). Phases per server: ready,
// 16 sign-ups, `me` under 50 connections, password sign-in under 16, then 10 s idle. Columns: RSS (MiB)
// after each phase, the `me` rate and the server's CPU per `me` (µs, all its threads), the sign-in rate.
// RSS is read from /proc (VmRSS); req/s follow the machine's load, CPU per request much less so.
import { args, cpuSecondsOf, gqlRequest, load, loadNote, log, main, median, PASSWORD, Q, registerUsers, rssOf, startServer, table } from './lib.mjs';

// The variants alone decide the flags (not start:prod's, which BENCH_DIST runs get by default).
process.env.BENCH_PROD_FLAGS = '0';
const opt = args({ variants: '|--max-semi-space-size=8', rounds: 2, cost: 10, duration: 8 });
const variants = String(opt.variants).split('|').map((v) => v.trim());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (b) => Number((b / 2 ** 20).toFixed(0));

async function measure(flags) {
  const server = await startServer({ bcryptCost: Number(opt.cost), nodeArgs: flags ? flags.split(/\s+/) : [] });
  const pid = server.child.pid;
  try {
    await sleep(2000);
    const row = { flags: flags || '(default)', ready: MiB(rssOf(pid)) };
    const users = await registerUsers(server.base, 16, { tag: 'mem' });
    row['after sign-ups'] = MiB(rssOf(pid));
    const c0 = cpuSecondsOf(pid);
    const me = await load(server.base, {
      requests: users.slice(0, 4).map((u) => gqlRequest(Q.me, undefined, { authorization: `Bearer ${u.accessToken}` })),
      connections: 50,
      duration: Number(opt.duration),
      quiet: true,
    });
    row['me CPU µs'] = Math.round(((cpuSecondsOf(pid) - c0) / me.ok) * 1e6);
    row['me /s'] = me.rps;
    row['after me'] = MiB(rssOf(pid));
    const signin = await load(server.base, {
      requests: users.map((u) => ({ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: u.username, password: PASSWORD }) })),
      connections: 16,
      duration: Number(opt.duration),
      quiet: true,
    });
    row['sign-in /s'] = signin.rps;
    row['after sign-in'] = MiB(rssOf(pid));
    await sleep(10_000);
    row['after 10 s idle'] = MiB(rssOf(pid));
    return row;
  } finally {
    await server.stop();
  }
}

await main(async () => {
  log(`${variants.length} variants x ${opt.rounds} rounds, cost ${opt.cost}; ${await loadNote()}`);
  const rows = [];
  for (let r = 0; r < opt.rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const row = await measure(v);
      log(JSON.stringify(row));
      rows.push({ round: r + 1, ...row });
    }
  }
  const medians = variants.map((v) => {
    const mine = rows.filter((x) => x.flags === (v || '(default)'));
    const keys = Object.keys(mine[0]).filter((k) => k !== 'flags' && k !== 'round');
    return { flags: v || '(default)', ...Object.fromEntries(keys.map((k) => [k, Number(median(mine.map((x) => x[k])).toFixed(1))])) };
  });
  process.stdout.write(`\n${table(rows)}\n\nmedians:\n\n${table(medians)}\n\n${await loadNote()}\n`);
});
