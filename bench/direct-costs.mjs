// CPU per call in this process of the hot raw statements, through their repositories, sent by Prisma
// ($queryRaw, the client without a direct runner) and by node-postgres directly (queryRows on a client
// from createPrismaClient): the sign-in read, the session opening, the refresh rotation, the known-device
// check and the sign-up statement. Old and new alternate, so a busy box weighs on both alike.
//   node --import tsx bench/direct-costs.mjs [--duration=2] [--concurrency=10] [--rounds=2]
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { args, createDatabase, main, measureInProcess, median, migrateDatabase, report, seedSessionsSql, sha256, table } from './lib.mjs';

const opt = args({ duration: 2, concurrency: 10, rounds: 2, pool: 10 });

async function measure(op, { concurrency = opt.concurrency, duration = opt.duration } = {}) {
  const { ops, secs, lat, nodeUs, cpuPerCall } = await measureInProcess(op, { concurrency, duration });
  return { ops, secs, nodeUs, pgUs: cpuPerCall((n) => n === 'postgres'), p50: median(lat) };
}

await main(async () => {
  const db = await createDatabase();
  await migrateDatabase(db.url);
  const perVariant = 30_000;
  const { userIds, tokens } = await seedSessionsSql(db.url, { users: 200, sessions: 2 * perVariant * opt.rounds });
  const usernames = Array.from({ length: 200 }, (_, k) => `bench_s${k + 1}`);

  const { PrismaClient } = await import('../src/generated/prisma/client.ts');
  const { createPrismaClient } = await import('../src/infra/db/prisma.ts');
  const { PREPARED } = await import('../src/infra/db/direct.ts');
  const { UsersRepository } = await import('../src/modules/identity/users.repository.ts');
  const { SessionsRepository } = await import('../src/modules/sessions/sessions.repository.ts');
  const { SecurityEventsRepository } = await import('../src/modules/security-events/security-events.repository.ts');
  const { AuditSealsRepository } = await import('../src/modules/audit/audit-seals.repository.ts');

  // Old: Prisma over its adapter, as before (named statements by the same marker); no direct runner.
  const oldPool = new pg.Pool({ connectionString: db.url, max: opt.pool });
  const old = new PrismaClient({ adapter: new PrismaPg(oldPool, { statementNameGenerator: (q) => PREPARED.exec(q.sql)?.[1] }) });
  const cur = createPrismaClient(db.url, { poolMax: opt.pool });
  const clients = { 'Prisma $queryRaw': old, 'pg direct (queryRows)': cur };
  const repos = Object.fromEntries(Object.entries(clients).map(([k, c]) => [k, { users: new UsersRepository(c), sessions: new SessionsRepository(c), events: new SecurityEventsRepository(c), seals: new AuditSealsRepository(c) }]));

  const source = { ip: '10.0.0.1', userAgent: 'bench/1' };
  const since = new Date(Date.now() - 30 * 86400_000);
  let tokenAt = 0;
  const nextToken = () => tokens[tokenAt++];
  const newSession = (i) => {
    const now = new Date();
    return {
      id: randomUUID(), userId: userIds[i % userIds.length], ip: source.ip, userAgent: source.userAgent,
      expiresAt: new Date(now.getTime() + 30 * 86400_000), idleExpiresAt: new Date(now.getTime() + 14 * 86400_000),
      refreshTokenHash: sha256(randomUUID()), authenticatedAt: now, signIn: { requestId: null, method: 'password' },
    };
  };
  const ops = {
    'sign-in read (findForSignIn)': (r, i) => r.users.findForSignIn(usernames[i % usernames.length], source, since),
    'session opening (open, no tx)': (r, i) => r.sessions.open(undefined, newSession(i)),
    'refresh rotation (rotate)': (r) => r.sessions.rotate(sha256(nextToken()), sha256(randomUUID()), new Date(), 14 * 86400_000),
    'known-device check (hasRecentSession)': (r, i) => r.sessions.hasRecentSession(userIds[i % userIds.length], source, since),
    'sign-up statement (createWith, user row only)': (r) => {
      const id = randomUUID();
      return r.users.createWith({ id, username: `n${id.slice(0, 18)}`, email: `${id}@example.com`, passwordHash: 'h', at: new Date() }, []);
    },
    // The background passes' statements, as an idle pass runs them (nothing to lease: the statement alone).
    'security-event lease, empty (lease)': (r) => r.events.lease(100, 30, []),
    'audit feed lease, nothing new (publishBatch)': (r) => r.seals.publishBatch(100, async () => undefined),
  };
  // Warm both (connections open, statements prepared).
  for (const r of Object.values(repos)) for (const op of Object.values(ops)) for (let i = 0; i < 20; i++) await op(r, i);

  const acc = {};
  for (let round = 0; round < opt.rounds; round++) {
    for (const [label, op] of Object.entries(ops)) {
      for (const [via, r] of Object.entries(repos)) {
        const m = await measure((i) => op(r, i));
        const a = (acc[`${label}|${via}`] ??= { op: label, via, ops: 0, nodeUs: [], pgUs: [], p50: [] });
        a.ops += m.ops;
        a.nodeUs.push(m.nodeUs);
        a.pgUs.push(m.pgUs);
        a.p50.push(m.p50);
      }
    }
  }
  const rows = Object.values(acc).map((a) => ({
    op: a.op,
    via: a.via,
    calls: a.ops,
    'node CPU µs/call': Math.round(median(a.nodeUs)),
    'pg CPU µs/call': Math.round(median(a.pgUs)),
    'p50 ms': median(a.p50).toFixed(2),
  }));
  await old.$disconnect();
  await oldPool.end();
  await cur.$disconnect();
  report('direct costs', `${opt.concurrency} concurrent callers, pools of ${opt.pool}, ${opt.duration}s × ${opt.rounds} rounds each (median of rounds)\n\n${table(rows)}`, { rows });
});
