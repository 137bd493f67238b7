// The raw cost of each piece a request is built from, measured in-process without HTTP or GraphQL:
// Redis GET (ioredis, with and without auto-pipelining), the user lookup by id (raw pg unnamed / named
// statement / Prisma findUnique), the refresh rotation statement (raw pg, Prisma $queryRawUnsafe,
// and raw pg with synchronous_commit=off to isolate the WAL flush), and ES256 sign/verify (jose).
// Each row: ops/s at the given concurrency, latency, and CPU per op in this process (the server's
// event loop would pay it) and in PostgreSQL / Redis.
//   node --import tsx bench/raw-costs.mjs [--duration=3] [--concurrency=50]
// (tsx is needed only to load the generated Prisma client from src/generated.)
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { Redis } from 'ioredis';
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import pg from 'pg';
import { args, createDatabase, deleteRedisPrefix, main, measureInProcess, median, migrateDatabase, onCleanup, REDIS_URL, report, seedSessionsSql, sha256, table, waitForQuiet } from './lib.mjs';

const opt = args({ duration: 3, concurrency: 50, pool: 10 });

/** Runs `op` in `concurrency` loops for `duration` s; returns ops/s, latency and CPU per op by process group. */
async function measure(label, op, { concurrency = opt.concurrency, duration = opt.duration, note = '' } = {}) {
  await waitForQuiet({ timeoutMs: 10_000 });
  const { ops, secs, lat, nodeUs, cpuPerCall } = await measureInProcess(op, { concurrency, duration });
  return {
    op: label,
    concurrency,
    'ops/s': Math.round(ops / secs),
    'p50 ms': median(lat).toFixed(2),
    'p99 ms': lat[Math.floor(lat.length * 0.99)]?.toFixed(2),
    'node CPU µs/op': Math.round(nodeUs),
    'pg CPU µs/op': Math.round(cpuPerCall((n) => n === 'postgres')),
    'redis CPU µs/op': Math.round(cpuPerCall((n) => n.startsWith('redis-server'))),
    note,
  };
}

const USER_SQL = 'SELECT id, username, email, password_hash, email_verified_at, mfa_enabled_at, created_at FROM users WHERE id = $1::uuid LIMIT 1';
// The statement of SessionsRepository.rotate, with positional parameters.
const ROTATE_SQL = `
  WITH used AS (
    UPDATE refresh_tokens SET used_at = $1, replaced_by_id = $2::uuid
    WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $1
    RETURNING session_id
  ), live AS (
    UPDATE sessions s SET last_used_at = $1, idle_expires_at = LEAST($4::timestamptz, s.expires_at)
    FROM used
    WHERE s.id = used.session_id AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.idle_expires_at > $1
    RETURNING s.id, s.user_id, s.expires_at, LEAST($4::timestamptz, s.expires_at) AS live_until
  ), fresh AS (
    INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at)
    SELECT $2::uuid, live.id, $5, live.expires_at FROM live
    RETURNING session_id
  )
  SELECT live.user_id::text AS user_id, live.id::text AS session_id, live.live_until
  FROM live JOIN fresh ON fresh.session_id = live.id`;

await main(async () => {
  const db = await createDatabase();
  await migrateDatabase(db.url);
  const rotations = 4; // rotate variants below, each needs its own tokens
  const perVariant = 40_000;
  const { userIds, tokens } = await seedSessionsSql(db.url, { users: 100, sessions: rotations * perVariant });
  const tokenSets = Array.from({ length: rotations }, (_, k) => tokens.slice(k * perVariant, (k + 1) * perVariant));

  const prefix = `bench:raw:${randomUUID().slice(0, 8)}:`;
  onCleanup(() => deleteRedisPrefix(prefix));
  const redis = new Redis(REDIS_URL);
  const redisAuto = new Redis(REDIS_URL, { enableAutoPipelining: true });
  onCleanup(() => redis.disconnect());
  onCleanup(() => redisAuto.disconnect());
  await redis.set(`${prefix}session:x`, `${userIds[0]}|${Date.now() + 3600_000}`);

  const pool = new pg.Pool({ connectionString: db.url, max: opt.pool });
  onCleanup(() => pool.end());
  const poolAsync = new pg.Pool({ connectionString: db.url, max: opt.pool, options: '-c synchronous_commit=off' });
  onCleanup(() => poolAsync.end());

  const { PrismaClient } = await import('../src/generated/prisma/client.ts');
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url, max: opt.pool }) });
  onCleanup(() => prisma.$disconnect());
  const namedPrisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: db.url, max: opt.pool }, { statementNameGenerator: (q) => `s${sha256(q.sql).toString('hex').slice(0, 16)}` }),
  });
  onCleanup(() => namedPrisma.$disconnect());
  const USER_FIELDS = { id: true, username: true, email: true, passwordHash: true, emailVerifiedAt: true, mfaEnabledAt: true, createdAt: true };
  await prisma.user.findUnique({ where: { id: userIds[0] }, select: USER_FIELDS });
  await namedPrisma.user.findUnique({ where: { id: userIds[0] }, select: USER_FIELDS });

  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const sign = () => new SignJWT({ sid: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('http://x').setAudience('latchkey').setSubject(randomUUID()).setIssuedAt().setExpirationTime('15m').sign(privateKey);
  const jwt = await sign();

  const rotateArgs = (set, i) => {
    const now = new Date();
    return [now, randomUUID(), sha256(set[i]), new Date(now.getTime() + 14 * 86400_000), sha256(randomUUID())];
  };
  const rows = [];
  const id = (i) => userIds[i % userIds.length];
  rows.push(await measure('redis GET (ioredis)', () => redis.get(`${prefix}session:x`)));
  rows.push(await measure('redis GET (ioredis, enableAutoPipelining)', () => redisAuto.get(`${prefix}session:x`)));
  rows.push(await measure('user by id: pg, unnamed statement', (i) => pool.query({ text: USER_SQL, values: [id(i)], rowMode: 'array' })));
  rows.push(await measure('user by id: pg, named (prepared) statement', (i) => pool.query({ name: 'user_by_id', text: USER_SQL, values: [id(i)], rowMode: 'array' })));
  rows.push(await measure('user by id: Prisma findUnique', (i) => prisma.user.findUnique({ where: { id: id(i) }, select: USER_FIELDS })));
  rows.push(await measure('user by id: Prisma findUnique, statementNameGenerator', (i) => namedPrisma.user.findUnique({ where: { id: id(i) }, select: USER_FIELDS })));
  const [t0, t1, t2, t3] = tokenSets;
  rows.push(await measure('rotate: pg, unnamed', (i) => pool.query({ text: ROTATE_SQL, values: rotateArgs(t0, i), rowMode: 'array' }), { note: 'each op commits (WAL flush)' }));
  rows.push(await measure('rotate: pg, named', (i) => pool.query({ name: 'rotate', text: ROTATE_SQL, values: rotateArgs(t1, i), rowMode: 'array' })));
  rows.push(await measure('rotate: Prisma $queryRawUnsafe', (i) => prisma.$queryRawUnsafe(ROTATE_SQL, ...rotateArgs(t2, i))));
  rows.push(await measure('rotate: pg, synchronous_commit=off', (i) => poolAsync.query({ text: ROTATE_SQL, values: rotateArgs(t3, i), rowMode: 'array' }), { note: 'no WAL flush wait: the flush share' }));
  rows.push(await measure('jose ES256 sign', () => sign(), { concurrency: 1 }));
  rows.push(await measure('jose ES256 verify', () => jwtVerify(jwt, publicKey, { algorithms: ['ES256'], audience: 'latchkey' }), { concurrency: 1 }));
  report('raw costs', `${opt.concurrency} concurrent callers, pg pools of ${opt.pool}, ${opt.duration}s each; CPU per op split by process\n\n${table(rows)}`, { rows });
});
