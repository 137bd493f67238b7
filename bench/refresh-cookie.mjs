// The cost of cookie mode on refresh throughput: the same rotation asked in bearer mode (token in the
// body or argument, answered in the JSON) and in cookie mode (`X-Latchkey-Session: cookie`, the token in
// the `__Host-` cookie, a new Set-Cookie on each answer), REST and GraphQL, in alternating pairs so both
// sides of a ratio see the same machine; each request spends its own unused token seeded by SQL.
//   node bench/refresh-cookie.mjs [--connections=50] [--duration=5] [--pairs=3] [--pool=40000] [--warmup=2] [--doors=rest,graphql]
// Reported per side: req/s, latency, and the server's CPU time per request (the figure that holds on a
// shared machine, where other processes take cores from both sides alike); the cookie work itself
// (parse the Cookie header, write the Set-Cookie) is also timed in-process.
// Expectation: cookie mode within a few percent of bearer (one header parsed, one serialised).
import { parseCookie, stringifySetCookie } from 'cookie';
import { args, fmtCpu, gqlRequest, load, log, main, median, pct, poolCursor, report, seedSessionsSql, startServer, table } from './lib.mjs';

const opt = args({ connections: 50, duration: 5, pairs: 3, pool: 40_000, warmup: 2, doors: 'rest,graphql' });
const COOKIE = '__Host-latchkey_refresh';
const doors = String(opt.doors).split(',');

const REFRESH = 'mutation R($t: String!) { refresh(refreshToken: $t) { accessToken refreshToken } }';
const REFRESH_BY_COOKIE = 'mutation R { refresh { accessToken refreshToken } }';

const requests = {
  rest: {
    bearer: (cursor) => ({
      method: 'POST',
      path: '/auth/refresh',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ refreshToken: cursor.next() }) }),
    }),
    cookie: (cursor) => ({
      method: 'POST',
      path: '/auth/refresh',
      headers: { 'x-latchkey-session': 'cookie' },
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, cookie: `${COOKIE}=${cursor.next()}` } }),
    }),
  },
  graphql: {
    bearer: (cursor) => ({
      ...gqlRequest(REFRESH, { t: '' }),
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: REFRESH, variables: { t: cursor.next() } }) }),
    }),
    cookie: (cursor) => ({
      ...gqlRequest(REFRESH_BY_COOKIE, undefined, { 'x-latchkey-session': 'cookie' }),
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, cookie: `${COOKIE}=${cursor.next()}` } }),
    }),
  },
};

/** Server CPU microseconds per answered request in a run (`cpu.server` is cores used over the run). */
const cpuPerRequest = (r) => (r.cpu?.server && r.ok ? Math.round((r.cpu.server * r.duration * 1e6) / r.ok) : NaN);

/** What cookie mode adds per refresh, in-process: one Cookie header parsed, one Set-Cookie written. */
function cookieWorkMicros(n = 200_000) {
  const header = `other=1; ${COOKIE}=${'A'.repeat(43)}; theme=dark`;
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) {
    sink += parseCookie(header)[COOKIE].length;
    sink += stringifySetCookie({ name: COOKIE, value: 'B'.repeat(43), path: '/', httpOnly: true, secure: true, sameSite: 'strict', maxAge: 2_592_000 }).length;
  }
  if (sink === 0) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

await main(async () => {
  // An https PUBLIC_URL: the production cookie (Secure, `__Host-`), though the listener is loopback http.
  const server = await startServer({ bcryptCost: 4, env: { PUBLIC_URL: 'https://auth.bench.test' } });
  const runs = doors.length * 2 * opt.pairs;
  const warmN = Math.ceil(opt.pool / 4);
  log(`seeding ${warmN + runs * opt.pool} sessions with unused refresh tokens (SQL)`);
  const { tokens } = await seedSessionsSql(server.db.url, { users: 100, sessions: warmN + runs * opt.pool });
  let offset = warmN;
  const nextPool = () => poolCursor(tokens.slice(offset, (offset += opt.pool)));
  // No wait for an idle machine (others share it): the CPU time per request is the figure to compare.
  const common = { connections: opt.connections, duration: opt.duration, quiet: false, serverPid: server.child.pid };

  log(`warm-up ${opt.warmup}s per door and mode`);
  const warm = poolCursor(tokens.slice(0, warmN));
  for (const door of doors) for (const mode of ['bearer', 'cookie']) await load(server.base, { connections: opt.connections, duration: opt.warmup, requests: [requests[door][mode](warm)] });

  const samples = Object.fromEntries(doors.map((d) => [d, { bearer: [], cookie: [], ratios: [] }]));
  const exhausted = [];
  for (let pair = 0; pair < opt.pairs; pair++) {
    for (const door of doors) {
      // Alternate which side goes first, so drift in the machine's load does not favour one.
      const order = pair % 2 === 0 ? ['bearer', 'cookie'] : ['cookie', 'bearer'];
      const got = {};
      for (const mode of order) {
        const pool = nextPool();
        log(`pair ${pair + 1}/${opt.pairs}: ${door} ${mode}`);
        got[mode] = await load(server.base, { ...common, requests: [requests[door][mode](pool)], label: `${door} ${mode}` });
        if (pool.exhausted) exhausted.push(`${door} ${mode}`);
        samples[door][mode].push(got[mode]);
      }
      samples[door].ratios.push(got.cookie.rps / got.bearer.rps);
    }
  }
  await server.stop();

  const rows = [];
  for (const door of doors) {
    for (const mode of ['bearer', 'cookie']) {
      const s = samples[door][mode];
      rows.push({
        path: `${door === 'rest' ? 'REST /auth/refresh' : 'GraphQL refresh'} (${mode})`,
        'req/s (median)': Math.round(median(s.map((r) => r.rps))),
        'p50 ms': median(s.map((r) => r.p50)),
        'p99 ms': median(s.map((r) => r.p99)),
        failed: s.reduce((n, r) => n + r.failed, 0),
        'cookie / bearer req/s (median of pairs)': mode === 'cookie' ? pct(median(samples[door].ratios)) : '',
        'pair ratios': mode === 'cookie' ? samples[door].ratios.map(pct).join(' ') : '',
        'server CPU µs/req (median)': median(s.map(cpuPerRequest)),
        'CPU cookie / bearer': mode === 'cookie' ? pct(median(s.map(cpuPerRequest)) / median(samples[door].bearer.map(cpuPerRequest))) : '',
        'cores used (last)': fmtCpu(s.at(-1).cpu),
      });
    }
  }
  for (const door of doors) for (const r of [...samples[door].bearer, ...samples[door].cookie]) if (r.failures) log(`failures (${r.label}): ${JSON.stringify(r.failures)}`);
  for (const e of exhausted) log(`WARNING: ${e} ran out of tokens: raise --pool`);
  const cookieWork = cookieWorkMicros();
  report('refresh-cookie', `${opt.connections} connections, ${opt.duration}s per run, ${opt.pairs} alternating pairs per door, one unused token per request\n\n${table(rows)}\n\nThe cookie work itself (parse the Cookie header + write the Set-Cookie, in-process): ${cookieWork.toFixed(2)} µs per refresh`, {
    cookieWorkMicros: cookieWork,
    cpuMicrosPerRequest: Object.fromEntries(doors.map((d) => [d, { bearer: samples[d].bearer.map(cpuPerRequest), cookie: samples[d].cookie.map(cpuPerRequest) }])),
    ratios: Object.fromEntries(doors.map((d) => [d, { median: median(samples[d].ratios), pairs: samples[d].ratios }])),
    rps: Object.fromEntries(doors.map((d) => [d, { bearer: samples[d].bearer.map((r) => r.rps), cookie: samples[d].cookie.map((r) => r.rps) }])),
  });
});
