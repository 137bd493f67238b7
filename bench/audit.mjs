// The audit log's costs off the hot path.
//   node bench/audit.mjs [--cost=10] [--connections=16] [--duration=8] [--users=16] [--entries=1000000] [--queries=30]
//   (--entries=0: the seal lag only; --cost=4 makes a denser storm than production's bcrypt allows)
// 1. Seal lag under a login storm: logins (right and wrong passwords, so both the session statement's entry
//    and a refused sign-in's own INSERT) for --duration seconds, then the lag from each entry's transaction
//    to its seal (audit_seals.sealed_at - audit_log.occurred_at), p50/p99/max, over the storm's entries.
// 2. auditLog latency at --entries entries seeded with SQL (generate_series; triggers off while seeding,
//    so the sealer does not compete with the queries): each filter of AuditLogFilter, a first page and a
//    page deep into the log, --queries sequential calls each as a SUPPORT account, p50/p90 in ms.
import pg from 'pg';
import { args, gql, gqlRequest, latencySummary, load, log, main, PASSWORD, Q, registerUsers, report, sql, startServer, table } from './lib.mjs';

const opt = args({ cost: 10, connections: 16, duration: 8, users: 16, entries: 1_000_000, queries: 30 });
const AUDIT_LOG = `query A($f: AuditLogFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) {
  edges { node { id occurredAt action } } pageInfo { hasNextPage endCursor } } }`;

async function sealLag(server, users) {
  const requests = users.flatMap((u) => [
    gqlRequest(Q.login, { i: { identifier: u.username, password: PASSWORD } }),
    gqlRequest(Q.login, { i: { identifier: u.username, password: 'not the password at all' } }),
  ]);
  const [{ t0 }] = await sql(server.db.url, 'SELECT clock_timestamp() AS t0');
  // Wrong passwords answer INVALID_CREDENTIALS (a GraphQL error): every answer counts as served here.
  const storm = await load(server.base, { requests, connections: opt.connections, duration: opt.duration, label: 'login storm', accept: () => true, serverPid: server.child.pid });
  for (let i = 0; i < 300; i++) {
    const [{ n }] = await sql(server.db.url, 'SELECT count(*)::int AS n FROM audit_pending');
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const byAction = await sql(
    server.db.url,
    `SELECT a.action, count(*)::int AS entries,
            round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000)::numeric, 1) AS p50,
            round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000)::numeric, 1) AS p99
     FROM audit_log a JOIN audit_seals s ON s.entry_id = a.id WHERE a.occurred_at >= $1 GROUP BY a.action ORDER BY a.action`,
    [t0],
  );
  const [lag] = await sql(
    server.db.url,
    `SELECT count(*)::int AS entries,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000 AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000 AS p99,
            max(extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000 AS max
     FROM audit_log a JOIN audit_seals s ON s.entry_id = a.id WHERE a.occurred_at >= $1`,
    [t0],
  );
  return { storm, lag, byAction };
}

async function seed(url, n) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    await c.query(
      `INSERT INTO audit_log (occurred_at, action, outcome, actor_id, target_user_id, session_id, ip, user_agent, request_id, details)
       SELECT now() - (n * interval '2.5 seconds'),
              (ARRAY['user.signed_in','user.sign_in_failed','session.revoked','user.signed_out','user.password_changed',
                     'user.registered','user.locked','admin.user_disabled','security.alert','user.mfa_enabled'])[1 + n % 10],
              CASE WHEN n % 5 = 0 THEN 'FAILURE'::"AuditOutcome" ELSE 'SUCCESS'::"AuditOutcome" END,
              ('00000000-0000-4000-8000-' || lpad(to_hex(n % 10000), 12, '0'))::uuid,
              ('00000000-0000-4000-8000-' || lpad(to_hex((n * 7) % 10000), 12, '0'))::uuid,
              gen_random_uuid(),
              '10.' || (n % 50) || '.' || (n % 100) || '.' || (n % 250),
              'bench-agent/1.0', 'req-' || n, jsonb_build_object('n', n)
       FROM generate_series(1, $1::int) AS n`,
      [n],
    );
    await c.query('COMMIT');
    await c.query('ANALYZE audit_log');
  } finally {
    await c.end();
  }
}

async function queryLatency(server) {
  const [support] = await registerUsers(server.base, 1, { tag: 'support' });
  await sql(server.db.url, `UPDATE users SET role = 'SUPPORT' WHERE id = $1`, [support.id]);
  const token = (await gql(server.base, Q.login, { i: { identifier: support.username, password: PASSWORD } })).login.accessToken;
  const headers = { authorization: `Bearer ${token}` };
  log(`seeding ${opt.entries} entries`);
  const t = performance.now();
  await seed(server.db.url, opt.entries);
  log(`seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // A cursor 100 pages of 50 deep.
  let deep = null;
  for (let i = 0; i < 100; i++) deep = (await gql(server.base, AUDIT_LOG, { first: 50, after: deep }, headers)).auditLog.pageInfo.endCursor;
  const day = (d) => new Date(Date.now() - d * 86_400_000).toISOString();
  const cases = {
    'no filter, first page': {},
    'page 101 (cursor)': { after: deep },
    'action': { f: { action: 'user.locked' } },
    'actorId': { f: { actorId: '00000000-0000-4000-8000-000000000abc' } },
    'targetUserId': { f: { targetUserId: '00000000-0000-4000-8000-000000000abc' } },
    'ip': { f: { ip: '10.7.7.7' } },
    'outcome': { f: { outcome: 'FAILURE' } },
    'since/until (one day, 10 days ago)': { f: { since: day(10), until: day(9) } },
    'action + outcome + since': { f: { action: 'user.sign_in_failed', outcome: 'FAILURE', since: day(20) } },
    'ip matching nothing': { f: { ip: '192.0.2.99' } },
  };
  const rows = [];
  for (const [name, variables] of Object.entries(cases)) {
    const ms = [];
    let count = 0;
    for (let i = 0; i < opt.queries; i++) {
      const t0 = performance.now();
      count = (await gql(server.base, AUDIT_LOG, { first: 50, ...variables }, headers)).auditLog.edges.length;
      ms.push(performance.now() - t0);
    }
    const s = latencySummary(ms);
    rows.push({ query: name, rows: count, 'p50 ms': s.p50, 'p90 ms': s.p90, 'max ms': s.max });
  }
  return rows;
}

await main(async () => {
  log(`starting server (BCRYPT_COST ${opt.cost})`);
  const server = await startServer({ bcryptCost: opt.cost });
  const users = await registerUsers(server.base, opt.users, { tag: 'a' });
  log(`login storm: ${opt.connections} connections x ${opt.duration}s`);
  const { storm, lag, byAction } = await sealLag(server, users);
  const queries = opt.entries > 0 ? await queryLatency(server) : [];
  await server.stop();
  const f = (x) => Number(x).toFixed(1);
  report(
    'audit',
    [
      `Seal lag under a login storm (${storm.requests} logins in ${storm.duration} s, ${lag.entries} entries): p50 ${f(lag.p50)} ms, p99 ${f(lag.p99)} ms, max ${f(lag.max)} ms`,
      '(from the start of the action\'s transaction to its seal; a refused sign-in\'s entry commits by itself, a sign-in\'s with its session):',
      '',
      table(byAction.map((r) => ({ action: r.action, entries: r.entries, 'p50 ms': r.p50, 'p99 ms': r.p99 }))),
      '',
      `auditLog at ${opt.entries} entries, ${opt.queries} calls each, first: 50:`,
      '',
      table(queries),
    ].join('\n'),
    { storm: { requests: storm.requests, seconds: storm.duration, p99: storm.p99 }, sealLagMs: { p50: lag.p50, p99: lag.p99, max: lag.max, entries: lag.entries }, byAction, queries },
  );
});
