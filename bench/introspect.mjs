// RFC 7662 introspection (`POST /oauth/introspect`: service-key check, JWT check, Redis session liveness)
// against `query { me }` (JWT check, Redis session liveness) on the same server, in alternating runs;
// medians of --runs. The service key is seeded with SQL (its SHA-256, as createServiceKey stores it).
//   node bench/introspect.mjs [--connections=50] [--duration=8] [--runs=3] [--warmup=3] [--users=4]
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { args, fmtCpu, gqlRequest, load, log, main, median, pct, Q, registerUsers, report, sha256, startServer, table } from './lib.mjs';

const opt = args({ connections: 50, duration: 8, runs: 3, warmup: 3, users: 4 });

async function seedServiceKey(databaseUrl) {
  const secret = `lksk_${randomBytes(32).toString('base64url')}`;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(`INSERT INTO service_keys (name, secret_hash) VALUES ('bench', $1) RETURNING id`, [sha256(secret)]);
    return { id: rows[0].id, secret };
  } finally {
    await client.end();
  }
}

await main(async () => {
  const server = await startServer({ bcryptCost: 4 });
  const users = await registerUsers(server.base, opt.users, { tag: 'in' });
  const key = await seedServiceKey(server.db.url);
  const basic = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  const meReqs = users.map((u) => gqlRequest(Q.me, undefined, { authorization: `Bearer ${u.accessToken}` }));
  const introspectReqs = users.map((u) => ({
    method: 'POST',
    path: '/oauth/introspect',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    body: `token=${u.accessToken}`,
  }));
  // A 200 with `active: false` would be a failure that looks like a success.
  const active = (body) => body.includes('"active":true');
  const common = { connections: opt.connections };

  log(`warm-up ${opt.warmup}s each`);
  await load(server.base, { ...common, requests: meReqs, duration: opt.warmup });
  await load(server.base, { ...common, requests: introspectReqs, duration: opt.warmup, accept: active });

  const runs = { me: [], introspect: [] };
  for (let i = 0; i < opt.runs; i++) {
    log(`run ${i + 1}/${opt.runs}: me, introspect (${opt.connections} connections x ${opt.duration}s)`);
    runs.me.push(await load(server.base, { ...common, requests: meReqs, duration: opt.duration, label: 'me', quiet: true, serverPid: server.child.pid }));
    runs.introspect.push(
      await load(server.base, { ...common, requests: introspectReqs, duration: opt.duration, label: 'introspect', quiet: true, serverPid: server.child.pid, accept: active }),
    );
  }
  await server.stop();

  const summary = (rs) => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    all: rs.map((r) => r.rps),
    cpu: fmtCpu(rs[rs.length >> 1]?.cpu),
  });
  const me = summary(runs.me);
  const intro = summary(runs.introspect);
  const ratio = intro.rps / me.rps;
  const rows = [
    { request: 'GraphQL me { id username }', 'req/s (median)': me.rps, 'runs req/s': me.all.join(' / '), 'p50 ms': me.p50, 'p99 ms': me.p99, failed: me.failed, ratio: '100%', 'cores used (middle run)': me.cpu },
    { request: 'POST /oauth/introspect', 'req/s (median)': intro.rps, 'runs req/s': intro.all.join(' / '), 'p50 ms': intro.p50, 'p99 ms': intro.p99, failed: intro.failed, ratio: pct(ratio), 'cores used (middle run)': intro.cpu },
  ];
  for (const r of [...runs.me, ...runs.introspect]) if (r.failures) log(`failures (${r.label}): ${JSON.stringify(r.failures)}`);
  report('introspect', `${opt.connections} connections, ${opt.duration}s per run, medians of ${opt.runs}\n\n${table(rows)}`, { me, introspect: intro, ratio, runs });
});
