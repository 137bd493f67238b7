// How many SQL statements (and transactions) one operation costs: the server runs against a database with
// `log_statement = all`, the operation is run `--n` times, and PostgreSQL's own log is counted for that
// database. Needs read access to the PostgreSQL log (`--log=/var/log/postgresql/postgresql-15-main.log`).
//   node --import tsx bench/statements.mjs [--op=register|login] [--n=20] [--role=all|api] [--rate=0]
// --rate=30: the operations start 1/30 s apart whatever they take (a steady 30/s, as a bcrypt-bound box
// serves at cost 10), so the background passes batch as they would under that load; 0: one after another,
// 200 ms apart (each operation's background work on its own).
import { readFileSync, statSync } from 'node:fs';
import pg from 'pg';
import { args, gql, main, PASSWORD, Q, registerUsers, startServer } from './lib.mjs';

const opt = args({ op: 'register', n: 20, role: 'all', rate: 0, log: '/var/log/postgresql/postgresql-15-main.log' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LIMIT = '1000000/60';
const { startResendDouble } = await import('../src/test/resend-double.ts');

await main(async () => {
  const double = await startResendDouble();
  let dbName;
  const server = await startServer({
    role: opt.role,
    env: { RESEND_API_KEY: 're_bench', RESEND_BASE_URL: double.url, OUTBOX_POLL_MS: '60000', RATE_LIMIT_REGISTER: LIMIT, RATE_LIMIT_LOGIN: LIMIT, RATE_LIMIT_LOGIN_IP: LIMIT, RATE_LIMIT_GENERAL: LIMIT },
    beforeStart: async (db) => {
      dbName = db.name;
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`ALTER DATABASE "${db.name}" SET log_statement = 'all'`);
      await c.end();
    },
  });
  try {
    const users = opt.op === 'login' ? await registerUsers(server.base, opt.n, { tag: 'st' }) : [];
    await sleep(3000); // outbox/email/relay work of the set-up settles
    const from = statSync(opt.log).size;
    const one = (i) =>
      opt.op === 'register'
        ? gql(server.base, Q.register, { i: { username: `stm${i}`, email: `stm${i}@example.com`, password: PASSWORD } })
        : gql(server.base, Q.login, { i: { identifier: users[i].username, password: PASSWORD } });
    const rate = Number(opt.rate);
    if (rate > 0) {
      const t0 = performance.now();
      const running = [];
      for (let i = 0; i < opt.n; i++) {
        await sleep(Math.max(0, t0 + (i * 1000) / rate - performance.now()));
        running.push(one(i));
      }
      await Promise.all(running);
      const took = (performance.now() - t0) / 1000;
      process.stderr.write(`[bench] ${opt.n} ${opt.op}s started at ${rate}/s, done in ${took.toFixed(1)} s (${(opt.n / took).toFixed(1)}/s)\n`);
    } else {
      for (let i = 0; i < opt.n; i++) {
        await one(i);
        await sleep(200);
      }
    }
    await sleep(3000); // emails, relay, publisher
    const text = readFileSync(opt.log, 'utf8').slice(from);
    // A multi-line statement continues on lines that start with a tab: join them to their first line.
    const lines = [];
    for (const l of text.split('\n')) {
      if (l.startsWith('\t') && lines.length) lines[lines.length - 1] += ` ${l.trim()}`;
      else lines.push(l);
    }
    const mine = lines.filter((l) => l.includes(`@${dbName} `) && /LOG:\s+(statement|execute)/.test(l));
    const kinds = {};
    for (const l of mine) {
      const stmt = l.replace(/^.*?LOG:\s+(statement|execute [^:]*):\s*/, '').replace(/\s+/g, ' ').slice(0, 90);
      kinds[stmt] = (kinds[stmt] ?? 0) + 1;
    }
    const rows = Object.entries(kinds).sort((a, b) => b[1] - a[1]);
    process.stdout.write(`${opt.op} x ${opt.n} (role ${opt.role}${rate > 0 ? `, ${rate}/s` : ''}): ${mine.length} statements = ${(mine.length / opt.n).toFixed(1)} per ${opt.op}, emails delivered ${double.delivered.length}\n`);
    for (const [k, v] of rows) process.stdout.write(`${String((v / opt.n).toFixed(2)).padStart(6)}  ${k}\n`);
  } finally {
    await server.stop();
    await double.close();
  }
});
