// Webhook delivery under sign-up load, and whether a dead receiver slows a healthy one.
//   node bench/webhooks.mjs [--rate=200] [--duration=15] [--cost=4] [--connections=32] [--drain=60] [--pairs=2]
// Server: `src/main.ts --role=api` and a worker process (`src/worker.ts`), WEBHOOK_ALLOW_PRIVATE_NETWORKS=true
// (the receivers are on loopback, in this process). Two endpoints subscribe to `user.created`:
//   healthy: answers 204 at once;  dead: accepts the connection and never answers (the worst kind of dead:
//   every attempt holds a connection until the 10-second deadline).
// Two phases of --duration seconds at --rate sign-ups/s (autocannon, overallRate), the same in every way but:
//   A (baseline): the dead endpoint disabled and a second healthy one (a twin) enabled in its place, so both
//   phases fan each sign-up out to two endpoints and differ only in whether the second one answers;
//   B: the healthy one and the dead one.  --pairs of them, alternating (A B A B), so
//   a disturbance of this shared box shows as a difference between pairs rather than as a verdict.
// Reported per phase: event → receiver latency at the healthy endpoint (webhook body `timestamp`, the audit
// entry's time in PostgreSQL, to its arrival here; same clock), p50/p99/max, how many of the sign-ups arrived,
// and the sign-up (register) latency. The figure that matters: B's healthy p99 over A's.
// BCRYPT_COST 4 by default: 200 sign-ups/s at production cost needs more cores than this box has, and the
// point here is the delivery path, not the hash.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { args, gql, latencySummary, load, log, main, median, PASSWORD, Q, report, sql, startServer, table } from './lib.mjs';

const opt = args({ rate: 200, duration: 15, cost: 4, connections: 32, drain: 60, pairs: 2 });

const CREATE = 'mutation C($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } secret } }';
const UPDATE = 'mutation U($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { enabled } }';

/** The healthy receiver: 204 at once; records (userId → arrival ms, event ms). */
async function healthyReceiver() {
  const arrivals = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      res.writeHead(204).end();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (body.type === 'user.created' && !arrivals.has(body.data.userId)) arrivals.set(body.data.userId, { at, event: Date.parse(body.timestamp) });
      } catch {
        // not ours
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, arrivals, close: () => (server.closeAllConnections(), new Promise((r) => server.close(r))) };
}

/** The dead receiver: takes every connection, reads, never answers. */
async function deadReceiver() {
  const sockets = new Set();
  let connections = 0;
  const server = createTcpServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    get connections() {
      return connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

let seq = 0;
const signUpRequest = (phase) => ({
  method: 'POST',
  path: '/graphql',
  headers: { 'content-type': 'application/json' },
  setupRequest: (req) => {
    const username = `wh_${phase}_${process.pid}_${seq++}`;
    return { ...req, body: JSON.stringify({ query: Q.register, variables: { i: { username, email: `${username}@example.com`, password: PASSWORD } } }) };
  },
});

async function phase(server, healthy, name) {
  const t0 = Date.now();
  const before = new Set(healthy.arrivals.keys());
  const result = await load(server.base, { requests: [signUpRequest(name)], connections: opt.connections, duration: opt.duration, overallRate: opt.rate, label: `sign-ups ${name}`, serverPid: server.child.pid, pids: { worker: server.worker.child.pid } });
  // The users this phase created, from the database (every committed sign-up must arrive).
  const created = await sql(server.db.url, `SELECT id::text FROM users WHERE username LIKE $1`, [`wh\\_${name}\\_%`]);
  const ids = created.map((r) => r.id);
  const deadline = Date.now() + opt.drain * 1000;
  while (ids.some((id) => !healthy.arrivals.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const lat = ids.filter((id) => healthy.arrivals.has(id) && !before.has(id)).map((id) => {
    const a = healthy.arrivals.get(id);
    return a.at - a.event;
  });
  const s = latencySummary(lat);
  // Where the time goes, from the rows: commit of the sign-up's audit entry → sealed with its deliveries (the
  // fan-out's transaction) → answered by the healthy receiver (the worker's clock, the same machine).
  const [stages] = await sql(
    server.db.url,
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000 AS seal_p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.sealed_at - a.occurred_at)) * 1000 AS seal_p99,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.delivered_at - s.sealed_at)) * 1000 AS send_p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.delivered_at - s.sealed_at)) * 1000 AS send_p99
     FROM audit_log a JOIN audit_seals s ON s.entry_id = a.id
     JOIN webhook_deliveries d ON d.endpoint_id = $2 AND d.body LIKE '%' || a.target_user_id::text || '%'
     WHERE a.action = 'user.registered' AND a.target_user_id = ANY($1::uuid[])`,
    [ids, healthy.endpointId],
  );
  log(`${name}: ${ids.length} sign-ups in ${((Date.now() - t0) / 1000).toFixed(1)} s incl. drain; healthy got ${lat.length}; p50 ${s.p50} ms p99 ${s.p99} ms`);
  return { name, result, signups: ids.length, arrived: lat.length, latency: s, stages };
}

await main(async () => {
  const healthy = await healthyReceiver();
  const dead = await deadReceiver();
  log(`starting server + worker (BCRYPT_COST ${opt.cost})`);
  const server = await startServer({ bcryptCost: opt.cost, worker: true, env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', LOG_LEVEL: 'error' } });
  const adminName = `wh_admin_${process.pid}`;
  const reg = await gql(server.base, Q.register, { i: { username: adminName, email: `${adminName}@example.com`, password: PASSWORD } });
  await sql(server.db.url, `UPDATE users SET role = 'ADMIN' WHERE id = $1`, [reg.register.user.id]);
  const token = (await gql(server.base, Q.login, { i: { identifier: adminName, password: PASSWORD } })).login.accessToken;
  const auth = { authorization: `Bearer ${token}` };
  const good = (await gql(server.base, CREATE, { input: { url: healthy.url, events: ['user.created'], description: 'healthy' } }, auth)).createWebhookEndpoint.endpoint.id;
  healthy.endpointId = good;
  const twinReceiver = await healthyReceiver();
  const twin = (await gql(server.base, CREATE, { input: { url: twinReceiver.url, events: ['user.created'], description: 'twin' } }, auth)).createWebhookEndpoint.endpoint.id;
  const bad = (await gql(server.base, CREATE, { input: { url: dead.url, events: ['user.created'], description: 'dead' } }, auth)).createWebhookEndpoint.endpoint.id;

  // Warm-up: a few sign-ups, delivered, before anything is measured.
  await gql(server.base, UPDATE, { id: bad, input: { enabled: false } }, auth);
  await load(server.base, { requests: [signUpRequest('warm')], connections: 8, duration: 3, overallRate: 50, label: 'warm-up' });

  const phases = [];
  for (let i = 1; i <= opt.pairs; i++) {
    await gql(server.base, UPDATE, { id: bad, input: { enabled: false } }, auth);
    await gql(server.base, UPDATE, { id: twin, input: { enabled: true } }, auth);
    log(`phase A${i}: healthy + healthy twin, ${opt.rate}/s for ${opt.duration} s`);
    phases.push({ ...(await phase(server, healthy, `a${i}`)), label: `A${i}: healthy + healthy twin` });
    await gql(server.base, UPDATE, { id: twin, input: { enabled: false } }, auth);
    await gql(server.base, UPDATE, { id: bad, input: { enabled: true } }, auth);
    log(`phase B${i}: healthy + dead endpoint, ${opt.rate}/s for ${opt.duration} s`);
    phases.push({ ...(await phase(server, healthy, `b${i}`)), label: `B${i}: healthy + dead` });
  }
  const a = { latency: { p50: median(phases.filter((p) => p.label.startsWith('A')).map((p) => p.latency.p50)), p99: median(phases.filter((p) => p.label.startsWith('A')).map((p) => p.latency.p99)) }, result: { p99: median(phases.filter((p) => p.label.startsWith('A')).map((p) => p.result.p99)) } };
  const b = { latency: { p50: median(phases.filter((p) => p.label.startsWith('B')).map((p) => p.latency.p50)), p99: median(phases.filter((p) => p.label.startsWith('B')).map((p) => p.latency.p99)) }, result: { p99: median(phases.filter((p) => p.label.startsWith('B')).map((p) => p.result.p99)) } };
  const deadStates = await sql(
    server.db.url,
    `SELECT status::text, count(*)::int AS n, coalesce(sum(attempts), 0)::int AS attempts FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY status ORDER BY status`,
    [bad],
  );
  // The healthy endpoint should never need a second attempt: a failed or refused attempt would show here.
  const [healthyRetries] = await sql(server.db.url, `SELECT count(*) FILTER (WHERE attempts > 1)::int AS n, count(*)::int AS total FROM webhook_deliveries WHERE endpoint_id = $1`, [good]);
  const serverLog = server.log();
  await server.stop();
  await healthy.close();
  await twinReceiver.close();
  await dead.close();

  const f = (x) => (x == null ? 'n/a' : Number(x).toFixed(0));
  const row = (p) => ({
    phase: p.label,
    'sign-ups': p.signups,
    'sign-ups/s': p.result.rps,
    'register p50/p99 ms': `${p.result.p50} / ${p.result.p99}`,
    'delivered to healthy': `${p.arrived}/${p.signups}`,
    'event→receiver p50 ms': p.latency.p50,
    'p99 ms': p.latency.p99,
    'max ms': p.latency.max,
    'commit→sealed p50/p99 ms': `${f(p.stages?.seal_p50)} / ${f(p.stages?.seal_p99)}`,
    'sealed→answered p50/p99 ms': `${f(p.stages?.send_p50)} / ${f(p.stages?.send_p99)}`,
    cpu: p.result.cpu ? Object.entries(p.result.cpu).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' · ') : '',
  });
  const ratio = (x, y) => (Number.isFinite(x) && Number.isFinite(y) && y > 0 ? (x / y).toFixed(2) : 'n/a');
  report(
    'webhooks',
    [
      `${opt.rate} sign-ups/s for ${opt.duration} s per phase (BCRYPT_COST ${opt.cost}, API + worker process); both endpoints subscribe to user.created:`,
      '',
      table(phases.map(row)),
      '',
      `Healthy endpoint with a dead one beside it, against without (medians over the pairs): p50 ×${ratio(b.latency.p50, a.latency.p50)}, p99 ×${ratio(b.latency.p99, a.latency.p99)}; register p99 ×${ratio(b.result.p99, a.result.p99)}.`,
      `Healthy endpoint: ${healthyRetries.n} of its ${healthyRetries.total} deliveries took more than one attempt.`,
      `Dead endpoint: ${dead.connections} connections opened to it; its deliveries at the end: ${deadStates.map((r) => `${r.status} ${r.n} (${r.attempts} attempts)`).join(', ') || 'none'}.`,
      serverLog.trim() ? `\nServer/worker warnings (last lines):\n\n\`\`\`\n${serverLog.trim().split('\n').slice(-5).join('\n')}\n\`\`\`` : '',
    ].join('\n'),
    { rate: opt.rate, duration: opt.duration, phases: phases.map((p) => ({ phase: p.label, signups: p.signups, arrived: p.arrived, ...p.latency, registerP99: p.result.p99, stages: p.stages })), a, b, dead: deadStates },
  );
});
