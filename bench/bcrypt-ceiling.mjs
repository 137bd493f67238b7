// The login ceiling: how many bcrypt.compare calls this machine completes per second with the server's
// layout (HMAC-SHA-384 pre-hash of the password, base64, then bcrypt at the given cost) and the
// server's concurrency cap (one per core, so 2 here). Run as its own process, with nothing else.
//   node bench/bcrypt-ceiling.mjs --cost=10 --concurrency=2 --duration=8
// Prints one JSON line: { cost, concurrency, seconds, ops, opsPerSec, p50, p99, cores } (latencies in ms).
import { createHmac, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { args, median, PASSWORD } from './lib.mjs';

const opt = args({ cost: 10, concurrency: Math.min(availableParallelism(), 3), duration: 8 });
const pepper = randomBytes(32);
const preHash = (pw) => createHmac('sha384', pepper).update(pw.normalize('NFKC'), 'utf8').digest('base64');
const stored = await bcrypt.hash(preHash(PASSWORD), opt.cost);
// One warm-up compare per lane (thread-pool threads start lazily).
await Promise.all(Array.from({ length: opt.concurrency }, () => bcrypt.compare(preHash(PASSWORD), stored)));

const lat = [];
const cpu0 = process.cpuUsage();
const start = performance.now();
const end = start + opt.duration * 1000;
let ops = 0;
await Promise.all(
  Array.from({ length: opt.concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      if (!(await bcrypt.compare(preHash(PASSWORD), stored))) throw new Error('compare failed');
      lat.push(performance.now() - t);
      ops++;
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
lat.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    cost: opt.cost,
    concurrency: opt.concurrency,
    seconds: Number(seconds.toFixed(2)),
    ops,
    opsPerSec: Number((ops / seconds).toFixed(2)),
    p50: Number(median(lat).toFixed(1)),
    p99: Number(lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))].toFixed(1)),
    /** Cores this process used (bcrypt threads included). */
    cores: Number(((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2)),
  })}\n`,
);
