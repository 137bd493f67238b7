import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.js';
import type { DbLog } from './migrate.js';

export interface PrismaClientOptions {
  /** Connections per process; size it against PostgreSQL's max_connections over all instances. @default 10 */
  poolMax?: number;
  /** Log each statement and its duration (never its parameters: they carry hashes and emails). @default false */
  logQueries?: boolean;
  /** Where query logs go; without it they go to stdout through Prisma's own logger. */
  log?: DbLog;
}

const PREPARED = /\/\* prepared:([a-z_]+) \*\//;

/** A Prisma client over node-postgres, the only engine Prisma 7 runs here (no native binary). */
export function createPrismaClient(databaseUrl: string, opts: PrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: opts.poolMax ?? 10,
    // pg waits forever for a connection by default; an outage must surface as an error quickly.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'latchkey',
  }, {
    // Hot statements carry a `/* prepared:name */` marker and are prepared once per connection (the
    // refresh rotation was re-planned on every call). Only marked ones: Prisma's own queries vary
    // (IN-lists of any length), and naming them all would grow each connection's cache without bound.
    statementNameGenerator: (query) => PREPARED.exec(query.sql)?.[1] as string,
  });
  if (!opts.logQueries) return new PrismaClient({ adapter });
  const log = opts.log;
  if (!log) return new PrismaClient({ adapter, log: ['query'] });
  const client = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  client.$on('query', (e) => log.info({ query: e.query, ms: e.duration }, 'db query'));
  // The event-typed client is the same object; callers need only the plain client type.
  return client as unknown as PrismaClient;
}
