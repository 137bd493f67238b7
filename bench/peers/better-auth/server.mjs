// Better Auth as bench/peers.mjs measures it: email + password on node:http (`toNodeHandler`), a pg Pool
// of the same size as Latchkey's, bcrypt at BCRYPT_COST over the same keyed pre-hash as Latchkey's
// PasswordHasher (and the same cap on bcrypt jobs at once), the cookie cache on, and sessions extended
// on every checked request that asks for it.
//   DATABASE_URL=... PORT=... BCRYPT_COST=10 [BCRYPT_MAX_CONCURRENT=n] node server.mjs [--migrate]
// --migrate creates Better Auth's tables in DATABASE_URL (its own migrator) and exits.
// Listens on 127.0.0.1 only. Besides /api/auth/*, one route for the bench's set-up (never measured):
//   POST /bench/sessions {"email": "...", "count": n} → ["<session cookie header>", ...]
// opens n sessions for an existing user with Better Auth's own internal adapter (no bcrypt), the way
// bench/lib.mjs seeds Latchkey's refresh tokens straight into its tables.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import pg from 'pg';

const env = process.env;
const cost = Number(env.BCRYPT_COST ?? 10);
const port = Number(env.PORT ?? 3001);
if (!env.DATABASE_URL) throw new Error('DATABASE_URL is required');
const secret = env.BETTER_AUTH_SECRET ?? randomBytes(32).toString('base64url');

// Latchkey stores bcrypt(base64(HMAC-SHA-384(pepper, NFKC(password)))): the same here, so both servers
// spend exactly the same CPU per password and bench/bcrypt-ceiling.mjs is the ceiling of both.
const pepper = randomBytes(32);
const preHash = (password) => createHmac('sha384', pepper).update(password.normalize('NFKC'), 'utf8').digest('base64');

// bcrypt runs on libuv's thread pool (4 threads), and so does everything Better Auth signs with WebCrypto
// (session cookies, cookie cache): with 16 sign-ins in flight, each response's HMAC waits behind every
// queued bcrypt job, and the answers come out in one burst when the queue empties. Latchkey caps bcrypt
// at one job per core, leaving a pool thread free; the same cap here (BCRYPT_MAX_CONCURRENT, default the
// same formula; 0 = no cap, Better Auth with bcrypt plugged in as its docs show) so both servers schedule
// the same bcrypt work the same way, and what differs is what each does around it.
const uvPool = Number(env.UV_THREADPOOL_SIZE) >= 1 ? Number(env.UV_THREADPOOL_SIZE) : 4;
const maxConcurrent = env.BCRYPT_MAX_CONCURRENT !== undefined ? Number(env.BCRYPT_MAX_CONCURRENT) : Math.max(1, Math.min(availableParallelism(), uvPool - 1));
let running = 0;
const waiting = [];
/** FIFO: a finished job hands its slot straight to the oldest waiter. */
async function limited(task) {
  if (maxConcurrent <= 0) return task();
  if (running < maxConcurrent) running++;
  else await new Promise((resolve) => waiting.push(resolve));
  try {
    return await task();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.PG_POOL_MAX ?? 10) });
let verificationMails = 0;

const LIFTED = { window: 60, max: 1_000_000 };
const auth = betterAuth({
  baseURL: `http://127.0.0.1:${port}`,
  secret,
  database: pool,
  telemetry: { enabled: false },
  logger: { level: 'warn' },
  emailAndPassword: {
    enabled: true,
    password: {
      hash: (password) => limited(() => bcrypt.hash(preHash(password), cost)),
      verify: ({ hash, password }) => limited(() => bcrypt.compare(preHash(password), hash)),
    },
  },
  // Latchkey queues a verification email with every sign-up: Better Auth makes its verification link
  // (a signed JWT) and hands it to this callback, which a real deployment would give to its mailer.
  emailVerification: {
    sendOnSignUp: true,
    sendVerificationEmail: async () => {
      verificationMails++;
    },
  },
  session: {
    // 0: every GET /get-session without ?disableRefresh extends the session (UPDATE + new cookies),
    // which is what the bench measures as Better Auth's session refresh.
    updateAge: 0,
    cookieCache: { enabled: true, maxAge: 3600 },
  },
  // The limiter runs, as Latchkey's does in the bench, with limits no single client reaches.
  rateLimit: {
    enabled: true,
    storage: 'memory',
    ...LIFTED,
    customRules: { '/sign-in/*': LIFTED, '/sign-up/*': LIFTED, '/get-session': LIFTED },
  },
});

if (process.argv.includes('--migrate')) {
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
  await pool.end();
  process.exit(0);
}

const ctx = await auth.$context;
const handler = toNodeHandler(auth);
/** The signed value of the session cookie, as better-call signs it (HMAC-SHA-256, base64, URI-encoded). */
const signed = (token) => encodeURIComponent(`${token}.${createHmac('sha256', secret).update(token).digest('base64')}`);
const cookieName = ctx.authCookies.sessionToken.name;

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

async function benchRoute(req, res) {
  const { email, count = 1 } = await readJson(req);
  const user = await ctx.internalAdapter.findUserByEmail(email);
  if (!user) {
    res.writeHead(404).end();
    return;
  }
  const cookies = [];
  for (let i = 0; i < count; i++) {
    const s = await ctx.internalAdapter.createSession(user.user.id);
    cookies.push(`${cookieName}=${signed(s.token)}`);
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cookies));
}

const server = createServer((req, res) => {
  // A deployment sits behind a proxy that names the client; Better Auth reads it from this header for
  // its rate limiter and the session's ipAddress (node:http's socket address does not reach it).
  req.headers['x-forwarded-for'] ??= req.socket.remoteAddress?.replace(/^::ffff:/, '');
  if (req.url?.startsWith('/api/auth/')) return handler(req, res);
  if (req.method === 'POST' && req.url === '/bench/sessions') {
    return benchRoute(req, res).catch((e) => {
      process.stderr.write(`${e?.stack ?? e}\n`);
      res.writeHead(500).end();
    });
  }
  if (req.method === 'GET' && req.url === '/bench/stats') {
    return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ verificationMails }));
  }
  res.writeHead(404).end();
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`better-auth listening on 127.0.0.1:${port}\n`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  pool.end().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
