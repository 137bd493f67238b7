// Runs every benchmark in sequence (never two at once: this box has 2 cores) and prints a summary.
//   node bench/run-all.mjs [--only=login,me] [extra flags are passed to every script]
import { spawn } from 'node:child_process';
import { args, ROOT, table } from './lib.mjs';

const opt = args({ only: 'login,me,refresh,starvation' });
const names = String(opt.only).split(',');
const passThrough = process.argv.slice(2).filter((a) => !a.startsWith('--only'));

const results = {};
let failed = false;
for (const name of names) {
  const code = await new Promise((res) => {
    const child = spawn(process.execPath, [`bench/${name}.mjs`, ...passThrough], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      buf += d;
    });
    child.on('exit', (c) => {
      const line = buf.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (line) results[name] = JSON.parse(line.slice('BENCH_RESULT '.length));
      res(c);
    });
  });
  if (code !== 0) failed = true;
}

const rows = [];
const r = results;
for (const x of r.login?.results ?? []) {
  rows.push({ bench: `login cost ${x.cost}`, 'req/s': x.login.rps, 'p50 ms': x.login.p50, 'p99 ms': x.login.p99, vs: `${(x.ratio * 100).toFixed(1)}% of bcrypt ceiling ${x.ceiling.opsPerSec.toFixed(1)}/s`, target: '≥90%', ok: x.pass ? 'pass' : 'MISS' });
}
if (r.me) rows.push({ bench: 'me', 'req/s': r.me.me.rps, 'p50 ms': r.me.me.p50, 'p99 ms': r.me.me.p99, vs: `${(r.me.ratio * 100).toFixed(1)}% of __typename ${r.me.typename.rps}/s; CPU per request ${r.me.me.cpuUs} vs ${r.me.typename.cpuUs} µs (${(r.me.cpuRatio * 100).toFixed(1)}%)`, target: '≥60% (CPU)', ok: r.me.pass ? 'pass' : 'MISS' });
if (r.refresh) {
  for (const k of ['graphql', 'rest']) {
    const x = r.refresh[k];
    if (x) rows.push({ bench: x.label, 'req/s': x.rps, 'p50 ms': x.p50, 'p99 ms': x.p99, vs: r.refresh.typename ? `${((x.rps / r.refresh.typename.rps) * 100).toFixed(1)}% of __typename ${r.refresh.typename.rps}/s` : '', target: '≥2,000/s', ok: x.rps >= 2000 ? 'pass' : 'MISS' });
  }
}
if (r.starvation) {
  const s = r.starvation;
  rows.push({ bench: 'me during login storm', 'req/s': s.during.rps, 'p50 ms': s.during.p50, 'p99 ms': s.during.p99, vs: `idle p50 ${s.idle.p50} / p99 ${s.idle.p99} ms; storm ${s.storm.rps} logins/s`, target: 'p99 <50 ms', ok: s.pass ? 'pass' : 'MISS' });
}
process.stdout.write(`\n# Summary\n\n${table(rows)}\n`);
process.exitCode = failed ? 1 : 0;
