import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.js';
import { attachDirectSql, DirectSql, PREPARED, type QueryLog } from './direct.js';
import type { DbLog } from './migrate.js';

export interface PrismaClientOptions {
  /** Connections per process; size it against PostgreSQL's max_connections over all instances. @default 10 */
  poolMax?: number;
  /** Log each statement and its duration (never its parameters: they carry hashes and emails). @default false */
  logQueries?: boolean;
  /** Where query logs go; without it they go to stdout through Prisma's own logger. */
  log?: DbLog;
}

/**
 * A Prisma client over node-postgres, the only engine Prisma 7 runs here (no native binary). Its pool is
 * the process's one pool: Prisma's adapter runs on it, and so do the hot statements repositories send
 * through node-postgres directly (`queryRows`, direct.ts). `$disconnect` ends it (once).
 */
export function createPrismaClient(databaseUrl: string, opts: PrismaClientOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.poolMax ?? 10,
    // pg waits forever for a connection by default; an outage must surface as an error quickly.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'latchkey',
  });
  // An idle connection's error (its backend ended) is emitted on the pool, and an 'error' nobody listens
  // for ends the process. Prisma's adapter listens only while it is connected; the direct statements may
  // run before it ever is. The next statement on a fresh connection reports an outage if there is one.
  pool.on('error', () => undefined);
  const adapter = new PrismaPg(pool, {
    // Hot statements carry a `/* prepared:name */` marker and are prepared once per connection (the
    // refresh rotation was re-planned on every call). Only marked ones: Prisma's own queries vary
    // (IN-lists of any length), and naming them all would grow each connection's cache without bound.
    statementNameGenerator: (query) => PREPARED.exec(query.sql)?.[1] as string,
  });
  let client: PrismaClient;
  let queryLog: QueryLog | undefined;
  if (!opts.logQueries) {
    client = new PrismaClient({ adapter });
  } else if (!opts.log) {
    client = new PrismaClient({ adapter, log: ['query'] });
    // Beside Prisma's own `prisma:query` lines on stdout.
    queryLog = (query, ms) => void process.stdout.write(`prisma:query (direct, ${ms} ms) ${query}\n`);
  } else {
    const log = opts.log;
    const logged = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
    logged.$on('query', (e) => log.info({ query: e.query, ms: e.duration }, 'db query'));
    // The event-typed client is the same object; callers need only the plain client type.
    client = logged as unknown as PrismaClient;
    queryLog = (query, ms) => log.info({ query, ms, direct: true }, 'db query');
  }
  attachDirectSql(client, new DirectSql(pool, queryLog));
  // Prisma leaves a pool it was given open (`disposeExternalPool` would end it only if Prisma had
  // connected, and a process may have run direct statements only). Ending it here, once: a second
  // `$disconnect` must not call `pool.end()` again (pg throws on that).
  const disconnect = client.$disconnect.bind(client);
  let ended: Promise<void> | undefined;
  client.$disconnect = async () => {
    await disconnect();
    ended ??= pool.end();
    await ended;
  };
  return client;
}
