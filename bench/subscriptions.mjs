// Real-time delivery at scale: one instance holding 5,000 open `securityEvent` subscriptions.
//   node bench/subscriptions.mjs [--users=250] [--perUser=20] [--logins=200] [--loginRate=10]
//        [--rates=10000,15000,...,60000] [--stepSeconds=8] [--openConcurrency=50] [--gc=true] [--cpuProf=<dir>]
//        [--serverNodeArgs=--max-semi-space-size=64,...]
// (a) latency from a `login` HTTP response to the SIGNED_IN event reaching every socket of that user
//     (event row -> NOTIFY -> publisher -> Redis -> this instance -> graphql-ws), p50/p99 over `logins`
//     logins spread over the users, at `loginRate`/s;
// (b) memory per open subscription: server RSS and V8 heap used (GET /metrics) before and after opening
//     users x perUser sockets, each reading taken after a full GC (through the inspector, --gc=true);
// (c) deliveries per second: a separate process (bench/sub-publisher.mjs) PUBLISHes event payloads to the
//     users' Redis channels at a fixed rate, round-robin; each message fans out to perUser sockets. Each step
//     of `rates` (deliveries/s) runs `stepSeconds`; a step is sustained when >= 99.9% of the deliveries arrive,
//     the backlog after the publisher stops is under 0.5 s and the sampled lag p99 is under 500 ms.
// Sockets are raw `ws` speaking graphql-transport-ws (cheaper per socket than graphql-ws's client), all in
// this process (the "client" column of the CPU split). The server runs `--role=api` (no BullMQ workers).
// Needs ~users*perUser+500 file descriptors here and in the server: run under `ulimit -n` large enough.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  args,
  cpuBreakdown,
  fmtCpu,
  freePort,
  gql,
  latencySummary,
  loadNote,
  log,
  main,
  median,
  onCleanup,
  PASSWORD,
  processCpu,
  Q,
  REDIS_URL,
  registerUsers,
  report,
  ROOT,
  scrapeMetrics,
  startServer,
  table,
  waitForQuiet,
} from './lib.mjs';

const opt = args({
  users: 250,
  perUser: 20,
  logins: 200,
  loginRate: 10,
  rates: '10000,15000,20000,25000,30000,40000,50000,60000',
  stepSeconds: 8,
  openConcurrency: 50,
  gc: true,
  cpuProf: '',
  registerConcurrency: 6,
  // extra node flags for the server, comma-separated (e.g. --serverNodeArgs=--max-semi-space-size=64)
  serverNodeArgs: '',
  // `baseline`: bench/ws-baseline-server.mjs instead of Latchkey (graphql-ws + Redis, nothing else): (c) only
  server: 'latchkey',
});
const baseline = opt.server === 'baseline';
const LIMIT = '1000000/60';
const SUBSCRIPTION = 'subscription OnEvent { securityEvent { id type sessionId } }';
const NEXT_PREFIX = '{"id":"1","type":"next"';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const sockets = opt.users * opt.perUser;

function fdLimit() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return Number(line.trim().split(/\s+/)[3]);
  } catch {
    return Infinity;
  }
}

/** A full GC in the server through the inspector (HeapProfiler.collectGarbage), so heap readings are live data. */
async function collectGarbage(inspectPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  await new Promise((res, rej) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.id !== 1) return;
      if (m.error) rej(new Error(m.error.message));
      else res();
    });
    ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
  });
  ws.close();
}

/** RSS and heap used (median of 3 scrapes 500 ms apart, after a GC when possible). */
async function memory(server, inspectPort) {
  if (baseline) return { rss: procRss(server.child.pid), heapUsed: NaN, heapTotal: NaN, external: NaN };
  if (inspectPort) await collectGarbage(inspectPort);
  await sleep(500);
  const samples = [];
  for (let i = 0; i < 3; i++) {
    samples.push(await scrapeMetrics(server.base));
    await sleep(500);
  }
  return {
    rss: median(samples.map((m) => m.latchkey_process_resident_memory_bytes)),
    heapUsed: median(samples.map((m) => m.latchkey_nodejs_heap_size_used_bytes)),
    heapTotal: median(samples.map((m) => m.latchkey_nodejs_heap_size_total_bytes)),
    external: median(samples.map((m) => m.latchkey_nodejs_external_memory_bytes)),
  };
}

function procRss(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}

/** bench/ws-baseline-server.mjs on a free port and its own channel prefix; fake users (unsigned tokens). */
async function startBaseline() {
  const port = await freePort();
  const prefix = `bench:${randomBytes(5).toString('hex')}:`;
  const child = spawn(process.execPath, [...String(opt.serverNodeArgs || '').split(',').filter(Boolean), ...(opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}`] : []), 'bench/ws-baseline-server.mjs'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), REDIS_URL, REDIS_KEY_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((r) => child.once('exit', r));
  let alive = true;
  exited.then(() => (alive = false));
  const stop = async () => {
    if (!alive) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(stop);
  const deadline = Date.now() + 30_000;
  while (!output.includes('ready')) {
    if (!alive || Date.now() > deadline) throw new Error(`baseline server did not start: ${output}`);
    await sleep(50);
  }
  const fakeToken = (sub) => `x.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.x`;
  const users = Array.from({ length: opt.users }, () => {
    const id = randomUUID();
    return { id, username: id, accessToken: fakeToken(id) };
  });
  return { server: { base: `http://127.0.0.1:${port}`, prefix, child, stop, log: () => output }, users };
}

// ---------------------------------------------------------------------------------------------
// the subscribers: raw graphql-transport-ws over `ws`
// ---------------------------------------------------------------------------------------------

const stats = {
  next: 0,
  errors: 0,
  errorSamples: [],
  closes: {},
  /** phase: 'probe' | 'latency' | 'load' | undefined */
  phase: undefined,
  probeSeen: new Set(),
  /** sessionId -> arrival times (SIGNED_IN during the latency phase) */
  signedIn: new Map(),
  lagSamples: [],
  sampleEvery: 50,
};

function onMessage(sock, data) {
  const s = data.toString('latin1', 0, NEXT_PREFIX.length);
  if (s !== NEXT_PREFIX) {
    const m = JSON.parse(data.toString());
    if (m.type === 'next') return onNext(sock, m, data);
    if (m.type === 'ping') return sock.ws.send('{"type":"pong"}');
    if (m.type === 'pong') return;
    stats.errors++;
    if (stats.errorSamples.length < 5) stats.errorSamples.push(data.toString().slice(0, 300));
    return;
  }
  onNext(sock, undefined, data);
}

function onNext(sock, parsed, data) {
  const n = ++stats.next;
  stats.lastAt = performance.now();
  sock.received++;
  const phase = stats.phase;
  if (phase === 'load') {
    if (n % stats.sampleEvery !== 0) return;
    const m = parsed ?? JSON.parse(data.toString());
    const id = m.payload?.data?.securityEvent?.id ?? '';
    if (id.startsWith('b:')) stats.lagSamples.push(now() - Number(id.split(':')[1]));
    return;
  }
  const m = parsed ?? JSON.parse(data.toString());
  const ev = m.payload?.data?.securityEvent;
  if (!ev) {
    stats.errors++;
    if (stats.errorSamples.length < 5) stats.errorSamples.push(data.toString().slice(0, 300));
    return;
  }
  if (phase === 'probe' && ev.id.startsWith('probe:')) stats.probeSeen.add(sock);
  if (phase === 'latency' && ev.type === 'SIGNED_IN' && ev.sessionId) {
    const t = now();
    const list = stats.signedIn.get(ev.sessionId);
    if (list) list.push(t);
    else stats.signedIn.set(ev.sessionId, [t]);
  }
}

function openSocket(wsUrl, user) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
    const sock = { ws, user, received: 0, open: false };
    const timer = setTimeout(() => reject(new Error('socket not acknowledged within 15 s')), 15_000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.accessToken}` } })));
    ws.on('message', (data) => {
      if (!sock.open) {
        const m = JSON.parse(data.toString());
        if (m.type !== 'connection_ack') return;
        sock.open = true;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, operationName: 'OnEvent' } }));
        clearTimeout(timer);
        resolve(sock);
        return;
      }
      onMessage(sock, data);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (!sock.open) reject(new Error(`socket closed before ack: ${code} ${reason}`));
      const k = `${code} ${String(reason).slice(0, 60)}`;
      stats.closes[k] = (stats.closes[k] ?? 0) + 1;
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function openAll(wsUrl, users) {
  const jobs = [];
  for (let k = 0; k < opt.perUser; k++) for (const u of users) jobs.push(u);
  const out = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const u = jobs[next++];
      out.push(await openSocket(wsUrl, u));
    }
  };
  await Promise.all(Array.from({ length: opt.openConcurrency }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// the publisher process (bench/sub-publisher.mjs)
// ---------------------------------------------------------------------------------------------

function runPublisher(cfg) {
  const child = spawn(process.execPath, ['bench/sub-publisher.mjs'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(JSON.stringify(cfg));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise((res, rej) =>
    child.once('exit', (code) => {
      if (code !== 0) return rej(new Error(`publisher exited ${code}: ${err}`));
      try {
        res(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        rej(new Error(`publisher output: ${out} ${err}`));
      }
    }),
  );
  return { pid: child.pid, done };
}

/** Latchkey `--role=api` on a fresh database, and `opt.users` users registered through the API (their access tokens open the sockets). */
async function startLatchkey(inspectPort) {
  const server = await startServer({
    bcryptCost: 4,
    role: 'api',
    nodeArgs: [
      ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
      ...(opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opt.cpuProf}`] : []),
      ...String(opt.serverNodeArgs || '').split(',').filter(Boolean),
    ],
    env: {
      ACCESS_TOKEN_TTL: '7200',
      RATE_LIMIT_REGISTER: LIMIT,
      RATE_LIMIT_LOGIN: LIMIT,
      RATE_LIMIT_LOGIN_IP: LIMIT,
      RATE_LIMIT_GENERAL: LIMIT,
      RATE_LIMIT_REFRESH: LIMIT,
    },
  });
  log(`registering ${opt.users} users`);
  const t1 = performance.now();
  const users = await registerUsers(server.base, opt.users, { tag: 'sub', concurrency: opt.registerConcurrency });
  log(`registered in ${((performance.now() - t1) / 1000).toFixed(1)}s`);
  return { server, users };
}

/** (a) `opt.logins` logins spread over the users at `opt.loginRate`/s; per login, when SIGNED_IN reached each socket of the user. */
async function loginLatency(server, users) {
  const L = opt.logins;
  log(`latency: ${L} logins at ${opt.loginRate}/s`);
  const quiet = await waitForQuiet();
  const note = await loadNote();
  stats.phase = 'latency';
  const cpu0 = processCpu();
  const m0 = await scrapeMetrics(server.base);
  const t = performance.now();
  const t0 = now();
  const logins = await Promise.all(
    Array.from({ length: L }, async (_, i) => {
      const user = users[Math.floor((i * opt.users) / L) % opt.users];
      const wait = t0 + (i * 1000) / opt.loginRate - now();
      if (wait > 0) await sleep(wait);
      const sent = now();
      try {
        const d = await gql(server.base, Q.login, { i: { identifier: user.username, password: PASSWORD } });
        const answered = now();
        const token = d.login?.accessToken;
        const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid;
        return { sent, answered, sid };
      } catch (e) {
        return { error: String(e.message).slice(0, 200) };
      }
    }),
  );
  // Let the last events arrive.
  const settle = Date.now() + 5_000;
  const complete = () => logins.every((l) => l.error || (stats.signedIn.get(l.sid)?.length ?? 0) >= opt.perUser);
  while (!complete() && Date.now() < settle) await sleep(50);
  const latSeconds = (performance.now() - t) / 1000;
  const m1 = await scrapeMetrics(server.base);
  const latCpu = cpuBreakdown(cpu0, processCpu(), latSeconds, { serverPid: server.child.pid });
  stats.phase = undefined;
  const ok = logins.filter((l) => !l.error);
  const first = [];
  const last = [];
  const fromSend = [];
  let incomplete = 0;
  for (const l of ok) {
    const arrivals = (stats.signedIn.get(l.sid) ?? []).sort((a, b) => a - b);
    if (arrivals.length < opt.perUser) incomplete++;
    if (!arrivals.length) continue;
    first.push(arrivals[0] - l.answered);
    last.push(arrivals[arrivals.length - 1] - l.answered);
    fromSend.push(arrivals[arrivals.length - 1] - l.sent);
  }
  return {
    logins: L,
    ok: ok.length,
    errors: logins.filter((l) => l.error).slice(0, 3).map((l) => l.error),
    incomplete,
    firstSocketMs: latencySummary(first),
    lastSocketMs: latencySummary(last),
    lastSocketFromRequestMs: latencySummary(fromSend),
    loginResponseMs: latencySummary(ok.map((l) => l.answered - l.sent)),
    cpu: latCpu,
    serverCpuFromMetrics: Number(((m1.latchkey_process_cpu_seconds_total - m0.latchkey_process_cpu_seconds_total) / latSeconds).toFixed(2)),
    cpuIdleBefore: quiet,
    load: note,
  };
}

// ---------------------------------------------------------------------------------------------

await main(async () => {
  const limit = fdLimit();
  if (limit < sockets + 500) throw new Error(`open-file limit ${limit} < ${sockets + 500}: run under \`bash -c 'ulimit -n 65536; node bench/subscriptions.mjs'\``);
  const inspectPort = opt.gc && !baseline ? await freePort() : undefined;
  let server;
  let users;
  const result = { server: opt.server, users: opt.users, perUser: opt.perUser, sockets };
  if (baseline) {
    log('baseline server: graphql-ws + Redis only (bench/ws-baseline-server.mjs)');
    ({ server, users } = await startBaseline());
  } else {
    ({ server, users } = await startLatchkey(inspectPort));
  }
  const wsUrl = `${server.base.replace('http', 'ws')}/graphql`;
  let t;

  // (b) memory before
  await sleep(2000);
  const memBefore = await memory(server, inspectPort);
  log(`memory before: rss ${(memBefore.rss / 2 ** 20).toFixed(1)} MiB, heap used ${(memBefore.heapUsed / 2 ** 20).toFixed(1)} MiB`);

  log(`opening ${sockets} subscriptions (${opt.users} users x ${opt.perUser})`);
  t = performance.now();
  const socks = await openAll(wsUrl, users);
  const openSeconds = (performance.now() - t) / 1000;
  log(`opened in ${openSeconds.toFixed(1)}s`);

  // Every user channel subscribed in Redis, then a probe event to each user reaching every socket.
  const redis = new Redis(REDIS_URL);
  try {
    const pattern = `${server.prefix}pubsub:securityEvent:*`;
    for (let i = 0; ; i++) {
      const channels = await redis.pubsub('CHANNELS', pattern);
      if (channels.length >= opt.users) break;
      if (i > 100) throw new Error(`only ${channels.length}/${opt.users} user channels subscribed in Redis`);
      await sleep(100);
    }
    stats.phase = 'probe';
    const occurredAt = new Date().toISOString();
    const pipe = redis.pipeline();
    for (const u of users) {
      pipe.publish(`${server.prefix}pubsub:securityEvent:${u.id}`, JSON.stringify({ id: `probe:${u.id}`, type: 'SIGNED_IN', occurredAt, sessionId: null, ip: null, userAgent: null, readAt: null }));
    }
    await pipe.exec();
    const deadline = Date.now() + 20_000;
    while (stats.probeSeen.size < socks.length && Date.now() < deadline) await sleep(50);
    result.probe = { socketsReached: stats.probeSeen.size, of: socks.length };
    log(`probe reached ${stats.probeSeen.size}/${socks.length} sockets`);
    stats.phase = undefined;
  } finally {
    redis.disconnect();
  }

  // (b) memory after
  await sleep(2000);
  const memAfter = await memory(server, inspectPort);
  result.memory = {
    before: memBefore,
    after: memAfter,
    rssPerSocketKiB: Number(((memAfter.rss - memBefore.rss) / sockets / 1024).toFixed(2)),
    heapPerSocketKiB: Number(((memAfter.heapUsed - memBefore.heapUsed) / sockets / 1024).toFixed(2)),
    externalPerSocketKiB: Number(((memAfter.external - memBefore.external) / sockets / 1024).toFixed(2)),
    gc: !!inspectPort,
    openSeconds: Number(openSeconds.toFixed(1)),
  };
  log(`memory after: rss ${(memAfter.rss / 2 ** 20).toFixed(1)} MiB, heap used ${(memAfter.heapUsed / 2 ** 20).toFixed(1)} MiB`);

  // (a) login -> SIGNED_IN latency
  if (!baseline) {
    result.latency = await loginLatency(server, users);
    log(`latency: last socket p50 ${result.latency.lastSocketMs.p50} ms, p99 ${result.latency.lastSocketMs.p99} ms`);
  }

  // (c) deliveries per second
  const rates = String(opt.rates).split(',').map(Number).filter(Boolean);
  result.steps = [];
  for (const rate of rates) {
    const publishRate = rate / opt.perUser;
    const idle = await waitForQuiet();
    const stepNote = await loadNote();
    log(`deliveries: ${rate}/s target (${publishRate} publishes/s x ${opt.perUser} sockets) for ${opt.stepSeconds}s`);
    stats.phase = 'load';
    stats.lagSamples = [];
    stats.sampleEvery = Math.max(1, Math.round(rate / 2000));
    const errors0 = stats.errors;
    const n0 = stats.next;
    const perSecond = [];
    let prev = n0;
    const sampler = setInterval(() => {
      perSecond.push(stats.next - prev);
      prev = stats.next;
    }, 1000);
    const c0 = processCpu();
    const mm0 = baseline ? undefined : await scrapeMetrics(server.base);
    const tStart = performance.now();
    const pub = runPublisher({ redisUrl: REDIS_URL, prefix: server.prefix, userIds: users.map((u) => u.id), rate: publishRate, seconds: opt.stepSeconds, spawnedAt: now() });
    // CPU over the publishing window only (not the drain after it).
    await sleep(opt.stepSeconds * 1000);
    const windowS = (performance.now() - tStart) / 1000;
    const c1 = processCpu();
    const nWindow = stats.next - n0;
    const mm1 = baseline ? undefined : await scrapeMetrics(server.base);
    const p = await pub.done;
    const expected = p.receivers * opt.perUser;
    // Wait for the rest: until all expected arrived, or nothing arrived for 3 s (lost), at most 30 s.
    const tWait = performance.now();
    while (stats.next - n0 < expected && performance.now() - tWait < 30_000 && performance.now() - (stats.lastAt ?? 0) < 3_000) await sleep(50);
    clearInterval(sampler);
    stats.phase = undefined;
    const delivered = stats.next - n0;
    // From the end of publishing (by the publisher's own clock) to the last delivery.
    const publishEnd = tStart + (p.startedAfterMs ?? 0) + p.seconds * 1000;
    const backlogS = Math.max(0, (stats.lastAt - publishEnd) / 1000);
    const lag = latencySummary(stats.lagSamples);
    const steady = perSecond.slice(1, Math.max(1, Math.min(perSecond.length - 1, opt.stepSeconds - 1)));
    const step = {
      target: rate,
      publishRate,
      published: p.published,
      publisherSeconds: Number(p.seconds.toFixed(2)),
      redisReceivers: p.receivers,
      zeroReceivers: p.zeroReceivers,
      expected: p.published * opt.perUser,
      delivered,
      deliveredShare: Number((delivered / (p.published * opt.perUser)).toFixed(4)),
      perSecondInWindow: Math.round(nWindow / windowS),
      perSecondMedian: median(steady),
      backlogAfterStopS: Number(backlogS.toFixed(2)),
      lagMs: lag,
      errors: stats.errors - errors0,
      cpu: cpuBreakdown(c0, c1, windowS, { serverPid: server.child.pid, pids: { publisher: pub.pid } }),
      serverCpuFromMetrics: baseline ? null : Number(((mm1.latchkey_process_cpu_seconds_total - mm0.latchkey_process_cpu_seconds_total) / windowS).toFixed(2)),
      cpuIdleBefore: idle,
      load: stepNote,
    };
    step.sustained = step.deliveredShare >= 0.999 && backlogS < 0.5 && (lag.p99 ?? Infinity) < 500;
    result.steps.push(step);
    log(`  delivered ${delivered}/${step.expected} (${(step.deliveredShare * 100).toFixed(2)}%), ${step.perSecondInWindow}/s in window, lag p99 ${lag.p99} ms, backlog ${step.backlogAfterStopS}s, server ${step.cpu.server} cores: ${step.sustained ? 'sustained' : 'NOT sustained'}`);
    if (!step.sustained) break;
  }
  // (b) again once the deliveries are over: live heap that stays is retained by the subscriptions (a leak).
  await sleep(2000);
  result.memory.afterDeliveries = await memory(server, inspectPort);
  const best = result.steps.filter((s) => s.sustained).at(-1);
  result.sustainedDeliveriesPerSecond = best ? best.perSecondInWindow : 0;
  result.openAtEnd = socks.filter((s) => s.ws.readyState === WebSocket.OPEN).length;
  result.closes = { ...stats.closes };
  result.errorSamples = stats.errorSamples;
  const serverLog = server.log().split('\n').filter((l) => !/^(Debugger |For help, see)/.test(l)).join('\n').trim();
  for (const s of socks) s.ws.terminate();
  await server.stop();
  if (serverLog) log(`server log (last lines):\n${serverLog.slice(-3000)}`);

  const MiB = (b) => (b / 2 ** 20).toFixed(1);
  const mem = result.memory;
  const lat = result.latency;
  const md = [
    `${baseline ? 'BASELINE (bench/ws-baseline-server.mjs: graphql-ws + Redis, no auth/type-graphql/Apollo): ' : ''}${sockets} subscriptions on one instance (${opt.users} users × ${opt.perUser} sockets), opened in ${mem.openSeconds}s; probe reached ${result.probe.socketsReached}/${result.probe.of}`,
    '',
    ...(lat
      ? [
          '(a) login response → SIGNED_IN at the subscriber(s)',
          '',
          table([
            { measure: `first of the user's ${opt.perUser} sockets`, ...pick(lat.firstSocketMs) },
            { measure: `last of the user's ${opt.perUser} sockets`, ...pick(lat.lastSocketMs) },
            { measure: 'last socket, from login request sent', ...pick(lat.lastSocketFromRequestMs) },
            { measure: 'login response time', ...pick(lat.loginResponseMs) },
          ]),
          '',
          `${lat.ok}/${lat.logins} logins ok, ${lat.incomplete} with a socket missing its event; cores: ${fmtCpu(lat.cpu)} (server by /metrics ${lat.serverCpuFromMetrics}); before: ${lat.load}`,
          '',
        ]
      : []),
    '(b) memory',
    '',
    table([
      { '': 'before', 'rss MiB': MiB(mem.before.rss), 'heap used MiB': MiB(mem.before.heapUsed), 'external MiB': MiB(mem.before.external) },
      { '': `after ${sockets} sockets`, 'rss MiB': MiB(mem.after.rss), 'heap used MiB': MiB(mem.after.heapUsed), 'external MiB': MiB(mem.after.external) },
      { '': 'per socket KiB', 'rss MiB': mem.rssPerSocketKiB, 'heap used MiB': mem.heapPerSocketKiB, 'external MiB': mem.externalPerSocketKiB },
      { '': 'after the deliveries of (c)', 'rss MiB': MiB(mem.afterDeliveries.rss), 'heap used MiB': MiB(mem.afterDeliveries.heapUsed), 'external MiB': MiB(mem.afterDeliveries.external) },
    ]),
    `(readings after a forced full GC: ${mem.gc})`,
    '',
    '(c) deliveries per second (publisher → Redis → server → sockets)',
    '',
    table(
      result.steps.map((s) => ({
        'target/s': s.target,
        'publishes/s': s.publishRate,
        'delivered/s (window)': s.perSecondInWindow,
        'median 1 s': s.perSecondMedian,
        delivered: `${(s.deliveredShare * 100).toFixed(2)}%`,
        'lag p50/p99 ms': `${s.lagMs.p50}/${s.lagMs.p99}`,
        'backlog s': s.backlogAfterStopS,
        'cores used': fmtCpu(s.cpu),
        'server (metrics)': s.serverCpuFromMetrics,
        ok: s.sustained ? 'sustained' : 'NO',
        'load before': s.load,
      })),
    ),
    '',
    `sustained: ${result.sustainedDeliveriesPerSecond}/s (target 40,000/s: ${result.sustainedDeliveriesPerSecond >= 40_000 ? 'pass' : 'MISS'}); sockets open at the end ${result.openAtEnd}/${sockets}; closes ${JSON.stringify(result.closes)}`,
  ].join('\n');
  report('subscriptions', md, result);
});

function pick(s) {
  return { n: s.n, 'p50 ms': s.p50, 'p90 ms': s.p90, 'p99 ms': s.p99, 'max ms': s.max };
}
