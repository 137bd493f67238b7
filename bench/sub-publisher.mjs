// Load generator for bench/subscriptions.mjs, run as its own process so its CPU is counted apart:
// PUBLISHes security-event payloads straight to the Redis channels the server subscribes to
// (`${prefix}pubsub:securityEvent:${userId}`, src/infra/pubsub.ts), round-robin over the users, at a fixed
// rate, over one raw RESP connection (no client library in the way: the generator must stay cheap).
//   echo '<json: { redisUrl, prefix, userIds, rate, seconds, tickMs?, spawnedAt? }>' | node bench/sub-publisher.mjs
// Each payload's id is `b:<wall clock ms at send>:<seq>`, so subscribers can compute the delivery lag.
// Prints one JSON line: { published, seconds, receivers, zeroReceivers, maxBehind }, where `receivers` is
// the sum of PUBLISH replies (Redis subscribers reached: 1 per message when the server is subscribed).
import { connect } from 'node:net';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const cfg = JSON.parse(input);
const { prefix, userIds, rate, seconds } = cfg;
const tickMs = cfg.tickMs ?? 5;
const u = new URL(cfg.redisUrl);
if (!/^(127\.\d+\.\d+\.\d+|localhost)$/.test(u.hostname)) throw new Error('loopback only');

const now = () => performance.timeOrigin + performance.now();
/** Wall clock (ms) at which the parent asked for this process: lets it place our publishing window. */
const spawnedAt = cfg.spawnedAt ?? now();
const channels = userIds.map((id) => {
  const c = `${prefix}pubsub:securityEvent:${id}`;
  return `*3\r\n$7\r\nPUBLISH\r\n$${Buffer.byteLength(c)}\r\n${c}\r\n`;
});

const sock = connect(Number(u.port || 6379), u.hostname);
sock.setNoDelay(true);
await new Promise((res, rej) => {
  sock.once('connect', res);
  sock.once('error', rej);
});

let replies = 0;
let receivers = 0;
let zeroReceivers = 0;
let pending = '';
sock.on('data', (d) => {
  pending += d.toString('latin1');
  let i;
  while ((i = pending.indexOf('\r\n')) >= 0) {
    const line = pending.slice(0, i);
    pending = pending.slice(i + 2);
    replies++;
    if (line[0] === ':') {
      const n = Number(line.slice(1));
      receivers += n;
      if (n === 0) zeroReceivers++;
    } else {
      process.stderr.write(`publisher: unexpected reply ${line}\n`);
    }
  }
});

let seq = 0;
let maxBehind = 0;
const start = now();
const end = start + seconds * 1000;
const occurredAt = new Date().toISOString();
const tail = `","type":"SIGNED_IN","occurredAt":"${occurredAt}","sessionId":null,"ip":null,"userAgent":null,"readAt":null}`;
await new Promise((resolve) => {
  const tick = () => {
    const t = now();
    const due = Math.min(Math.floor(((Math.min(t, end) - start) / 1000) * rate), Math.floor(seconds * rate));
    const n = due - seq;
    if (n > 0) {
      const ms = t.toFixed(1);
      let out = '';
      for (let k = 0; k < n; k++, seq++) {
        const payload = `{"id":"b:${ms}:${seq}${tail}`;
        out += `${channels[seq % channels.length]}$${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
      }
      sock.write(out);
    }
    // Commands written but not answered yet: how far Redis (or this process) is behind.
    maxBehind = Math.max(maxBehind, seq - replies);
    if (t >= end) return resolve();
    setTimeout(tick, tickMs);
  };
  tick();
});
const sent = now();
while (replies < seq && now() - sent < 30_000) await new Promise((r) => setTimeout(r, 10));
sock.end();
process.stdout.write(`${JSON.stringify({ published: seq, replies, seconds: (sent - start) / 1000, startedAfterMs: start - spawnedAt, receivers, zeroReceivers, maxBehind })}\n`);
