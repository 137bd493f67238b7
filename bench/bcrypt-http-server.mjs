// The password paths' floor over HTTP, the server half: node:http, and per request nothing but reading the
// JSON body, the HMAC pre-hash and one bcrypt.compare (capped at one job per core, as Latchkey's hasher
// caps it). Started by bcryptOverHttp() in bench/lib.mjs:
//   node bench/bcrypt-http-server.mjs --cost=10 --port=PORT   (prints "ready" once listening)
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { args, PASSWORD } from './lib.mjs';

const opt = args({ cost: 10, port: 0 });
const pepper = randomBytes(32);
const preHash = (pw) => createHmac('sha384', pepper).update(String(pw).normalize('NFKC'), 'utf8').digest('base64');
const stored = await bcrypt.hash(preHash(PASSWORD), opt.cost);
const cap = Math.max(1, Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE ?? 4) - 1));
let running = 0;
const waiting = [];
const slot = () => (running < cap ? (running++, Promise.resolve()) : new Promise((r) => waiting.push(r)));
const release = () => (waiting.length ? waiting.shift()() : running--);

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let ok = false;
    try {
      const { password } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      await slot();
      ok = await bcrypt.compare(preHash(password), stored).finally(release);
    } catch {
      ok = false;
    }
    const body = JSON.stringify({ ok });
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(opt.port, '127.0.0.1', () => process.stdout.write('ready\n'));
