// Summarises a V8 .cpuprofile (from `--cpuProf=<dir>` on a bench script, i.e. `node --cpu-prof`):
// self time by package / source area, the top functions by self time, and inclusive time of a few
// landmarks (Prisma, pg, ioredis, jose, GraphQL execution, Fastify, Apollo).
//   node bench/profile-summary.mjs <file.cpuprofile | dir> [--top=25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { args, table } from './lib.mjs';

// --callers=<functionName>: where the self time of that function comes from (nearest package/src frame up the stack).
// --from=<s>: ignore the first seconds of the profile (start-up, seeding, warm-up).
const opt = args({ top: 25, callers: '', from: 0 });
const target = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (!target) {
  process.stderr.write('usage: node bench/profile-summary.mjs <file.cpuprofile | dir>\n');
  process.exit(2);
}
const file = statSync(target).isDirectory()
  ? readdirSync(target)
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx adds a loader thread).
      .filter((f) => /\.0\.\d+\.cpuprofile$/.test(f))
      .map((f) => join(target, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
  : target;
const prof = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map();
let clock = 0;
prof.samples.forEach((id, i) => {
  clock += prof.timeDeltas[i] ?? 0;
  if (clock / 1e6 >= opt.from) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);

function area(cf) {
  const url = cf.url ?? '';
  if (!url) return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1).split('/').slice(0, 3).join('/');
  return url;
}

const areas = new Map();
const funcs = new Map();
for (const [id, ms] of self) {
  const cf = byId.get(id).callFrame;
  const a = area(cf);
  areas.set(a, (areas.get(a) ?? 0) + ms);
  const f = `${cf.functionName || '(anonymous)'} ${a}:${cf.lineNumber + 1}`;
  funcs.set(f, (funcs.get(f) ?? 0) + ms);
}

// Self time folded: a native or node:internal frame (a syscall, a hash, a promise hook) is charged to the
// nearest package or src/ frame above it, so "writev under pg" counts as pg. GC, idle stay themselves.
const folded = new Map();
for (const [id, ms] of self) {
  let cur = id;
  let name;
  while (cur !== undefined) {
    const cf = byId.get(cur).callFrame;
    if (/node_modules|\/src\/|^wasm:/.test(cf.url)) {
      name = area(cf);
      break;
    }
    cur = parent.get(cur);
  }
  const cf = byId.get(id).callFrame;
  if (!name) name = cf.functionName.startsWith('(') ? cf.functionName : `(unattributed ${area(cf)})`;
  if (/promiseInitHook|promiseBeforeHook|promiseAfterHook|promiseResolveHook|_propagate|emitInit|executionAsyncResource/.test(cf.functionName) || cf.url === 'node:async_hooks') name = 'async_hooks (AsyncLocalStorage)';
  folded.set(name, (folded.get(name) ?? 0) + ms);
}

// Inclusive time of landmarks: a sample counts once if any ancestor frame matches.
const landmarks = {
  'prisma (client + adapter + pg)': (cf) => /@prisma\/|node_modules\/pg|node_modules\/pg-/.test(cf.url),
  'prisma client runtime only': (cf) => /@prisma\/client/.test(cf.url),
  'pg driver': (cf) => /node_modules\/pg(-[a-z]+)?\//.test(cf.url),
  ioredis: (cf) => /node_modules\/ioredis\//.test(cf.url),
  jose: (cf) => /node_modules\/jose\//.test(cf.url),
  'graphql (parse/validate/execute)': (cf) => /node_modules\/graphql\//.test(cf.url),
  '@apollo/server': (cf) => /node_modules\/@apollo\/server\//.test(cf.url),
  fastify: (cf) => /node_modules\/fastify\//.test(cf.url),
  pino: (cf) => /node_modules\/pino/.test(cf.url),
  'prom-client': (cf) => /node_modules\/prom-client\//.test(cf.url),
  'type-graphql': (cf) => /node_modules\/type-graphql\//.test(cf.url),
  zod: (cf) => /node_modules\/zod\//.test(cf.url),
  'garbage collector': (cf) => cf.functionName === '(garbage collector)',
};
const incl = Object.fromEntries(Object.keys(landmarks).map((k) => [k, 0]));
for (const [id, ms] of self) {
  for (const [k, test] of Object.entries(landmarks)) {
    let cur = id;
    while (cur !== undefined) {
      if (test(byId.get(cur).callFrame)) {
        incl[k] += ms;
        break;
      }
      cur = parent.get(cur);
    }
  }
}

const idle = areas.get('(idle)') ?? 0;
const busy = total - idle;
const row = (name, ms) => ({ name, ms: ms.toFixed(0), '% of busy': `${((ms / busy) * 100).toFixed(1)}%` });
const sorted = (m) => [...m].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
process.stdout.write(`# ${file}\n\nsampled ${(total / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s (${((busy / total) * 100).toFixed(0)}%), idle ${(idle / 1000).toFixed(1)} s\n\n`);
process.stdout.write(`## self time by area\n\n${table(sorted(areas).slice(0, 20).map(([k, v]) => row(k, v)))}\n\n`);
process.stdout.write(`## self time, natives folded into their package\n\n${table(sorted(folded).slice(0, 20).map(([k, v]) => row(k, v)))}\n\n`);
process.stdout.write(`## inclusive time of landmarks\n\n${table(Object.entries(incl).sort((a, b) => b[1] - a[1]).map(([k, v]) => row(k, v)))}\n\n`);
process.stdout.write(`## top functions by self time\n\n${table(sorted(funcs).slice(0, opt.top).map(([k, v]) => row(k, v)))}\n`);

if (opt.callers) {
  const by = new Map();
  for (const [id, ms] of self) {
    if (byId.get(id).callFrame.functionName !== opt.callers) continue;
    const chain = [];
    let cur = parent.get(id);
    while (cur !== undefined && chain.length < 4) {
      const cf = byId.get(cur).callFrame;
      if (/node_modules|\/src\//.test(cf.url)) chain.push(`${cf.functionName || '(anon)'}@${area(cf)}`);
      cur = parent.get(cur);
    }
    const k = chain.join(' < ') || '(none)';
    by.set(k, (by.get(k) ?? 0) + ms);
  }
  process.stdout.write(`\n## callers of ${opt.callers}\n\n${table(sorted(by).slice(0, opt.top).map(([k, v]) => row(k, v)))}\n`);
}
