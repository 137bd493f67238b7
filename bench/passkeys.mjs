// Passkey sign-ins against password sign-ins, in the same run on the same server.
//   node --import tsx bench/passkeys.mjs [--cost=12] [--connections=8] [--duration=8] [--rounds=2] [--identifier=false]
// Each virtual client loops over whole sign-ins for --duration seconds: a password sign-in is one `login`;
// a passkey sign-in is `startPasskeyLogin` (no identifier: discoverable, unless --identifier), an ES256
// assertion made by the software authenticator of the tests (src/test/soft-authenticator.ts, node:crypto),
// and `finishPasskeyLogin`. Latency is the whole sign-in, as a user waits for it. The two kinds alternate
// for --rounds rounds and the medians are reported, so background load on this shared box hits both alike.
// Expectation: a passkey sign-in hashes nothing, so it should run an order of magnitude above bcrypt's
// ceiling at cost 12.
import { args, cpuBreakdown, fmtCpu, gql, latencySummary, log, main, median, PASSWORD, processCpu, Q, registerUsers, report, startServer, table } from './lib.mjs';
import { SoftAuthenticator } from '../src/test/soft-authenticator.ts';

const opt = args({ cost: 12, connections: 8, duration: 8, rounds: 2, users: 8, identifier: false });
const ORIGIN = 'http://localhost:3000';

const START = 'mutation S($i: String) { startPasskeyLogin(identifier: $i) { challengeId options } }';
const FINISH = 'mutation F($c: ID!, $r: JSON!) { finishPasskeyLogin(challengeId: $c, response: $r) { accessToken } }';
const REG_START = 'mutation { startPasskeyRegistration { challengeId options } }';
const REG_FINISH = 'mutation F($c: ID!, $r: JSON!) { finishPasskeyRegistration(challengeId: $c, response: $r) { id } }';

/** Runs `signIn(client)` in a closed loop on every client for `seconds`; whole sign-ins per second and their latencies. */
async function closedLoop(clients, seconds, signIn, serverPid) {
  const latencies = [];
  let failed = 0;
  let sample;
  const cpu0 = processCpu();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < until) {
        const s = performance.now();
        try {
          await signIn(client);
          latencies.push(performance.now() - s);
        } catch (e) {
          failed++;
          sample ??= String(e?.message ?? e).slice(0, 300);
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuBreakdown(cpu0, processCpu(), wall, { serverPid });
  // Server CPU per sign-in (the server's own process): unlike the rates, it holds when neighbours load the box.
  const serverMs = latencies.length ? Number(((cpu.server * wall * 1000) / latencies.length).toFixed(1)) : null;
  return { perSecond: Number((latencies.length / wall).toFixed(1)), ...latencySummary(latencies), serverMs, failed, sample, cpu };
}

const round = (x) => Number(x.toFixed(1));

await main(async () => {
  log(`starting server (BCRYPT_COST ${opt.cost})`);
  const server = await startServer({
    bcryptCost: opt.cost,
    env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN, RATE_LIMIT_PASSKEY_LOGIN: '1000000/60', RATE_LIMIT_PASSKEY_CHALLENGE: '1000000/60', LOCKOUT_THRESHOLD: '99' },
  });
  log(`registering ${opt.users} accounts, each with one passkey`);
  const users = await registerUsers(server.base, opt.users, { tag: 'pk' });
  for (const u of users) {
    u.authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { startPasskeyRegistration: c } = await gql(server.base, REG_START, undefined, { authorization: `Bearer ${u.accessToken}` });
    await gql(server.base, REG_FINISH, { c: c.challengeId, r: u.authenticator.create(c.options) }, { authorization: `Bearer ${u.accessToken}` });
  }
  const clients = Array.from({ length: opt.connections }, (_, i) => users[i % users.length]);
  // Authenticators that keep no counter (as synced passkeys do): clients sharing an account never race on it.
  const passkey = async (u) => {
    const { startPasskeyLogin: c } = await gql(server.base, START, opt.identifier ? { i: u.username } : {});
    await gql(server.base, FINISH, { c: c.challengeId, r: u.authenticator.assert(c.options, { counter: 0 }) });
  };
  const password = async (u) => {
    await gql(server.base, Q.login, { i: { identifier: u.username, password: PASSWORD } });
  };
  log('warm-up');
  await closedLoop(clients, 2, passkey, server.child.pid);
  await closedLoop(clients, 2, password, server.child.pid);

  const runs = { password: [], passkey: [] };
  for (let round = 1; round <= opt.rounds; round++) {
    for (const [kind, fn] of [['password', password], ['passkey', passkey]]) {
      log(`round ${round}: ${kind} sign-ins, ${opt.connections} clients x ${opt.duration}s`);
      runs[kind].push(await closedLoop(clients, opt.duration, fn, server.child.pid));
    }
  }
  await server.stop();

  const summary = (kind) => {
    const r = runs[kind];
    return {
      perSecond: round(median(r.map((x) => x.perSecond))),
      p50: round(median(r.map((x) => x.p50))),
      p99: round(median(r.map((x) => x.p99))),
      serverMs: round(median(r.map((x) => x.serverMs))),
      failed: r.reduce((a, x) => a + x.failed, 0),
      cpu: fmtCpu(r.at(-1).cpu),
      sample: r.find((x) => x.sample)?.sample,
    };
  };
  const pw = summary('password');
  const pk = summary('passkey');
  const rows = [
    { 'sign-in': `password (bcrypt cost ${opt.cost})`, 'sign-ins/s': pw.perSecond, 'p50 ms': pw.p50, 'p99 ms': pw.p99, 'server CPU ms / sign-in': pw.serverMs, failed: pw.failed, 'cores used (last run)': pw.cpu },
    { 'sign-in': `passkey (${opt.identifier ? 'with identifier' : 'discoverable'}, 2 requests)`, 'sign-ins/s': pk.perSecond, 'p50 ms': pk.p50, 'p99 ms': pk.p99, 'server CPU ms / sign-in': pk.serverMs, failed: pk.failed, 'cores used (last run)': pk.cpu },
  ];
  const ratio = pk.perSecond / pw.perSecond;
  const cpuRatio = pw.serverMs / pk.serverMs;
  for (const s of [pw.sample, pk.sample]) if (s) log(`failure sample: ${s}`);
  report(
    'passkeys',
    `${opt.connections} clients, ${opt.duration}s per run, medians of ${opt.rounds} alternating rounds; the client (fetch + ES256 signing) runs on the same box\n\n${table(rows)}\n\npasskey/password throughput: ${ratio.toFixed(1)}x (target ≥ 10x: ${ratio >= 10 ? 'pass' : 'MISS'}); server CPU per sign-in, password/passkey: ${cpuRatio.toFixed(1)}x. When other work holds the cores (see 'other' above), the CPU ratio is the steadier figure.`,
    { cost: opt.cost, connections: opt.connections, password: pw, passkey: pk, ratio, cpuRatio, runs },
  );
});
