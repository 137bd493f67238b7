import pg from 'pg';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.js';
import type { Tx } from '../../core/tx.js';
import { clientOf } from './tx.js';

/** The marker `prepared(name, sql)` (statement.ts) puts at the head of a statement prepared per connection. */
export const PREPARED = /\/\* prepared:([a-z_]+) \*\//;

/**
 * Named statements of this runner are kept apart from the ones Prisma names on the same pooled
 * connections (`statementNameGenerator`): pg refuses a name prepared with another text on a connection,
 * and Prisma's text for a statement need not be byte for byte the one given here.
 */
const NAME_PREFIX = 'direct_';

const { builtins } = pg.types;

/** `YYYY-MM-DD HH:MM:SS[.fff]` of a column without a zone, read as UTC (as Prisma reads it), not local time. */
const utc = (text: string): Date => new Date(`${text.replace(' ', 'T')}Z`);

/**
 * Where pg's default parsing of a column differs from what Prisma's `$queryRaw` returns for it, Prisma's:
 * int8 as bigint (pg: string), numeric as Decimal (pg: string), timestamp and date as UTC (pg: local
 * time), bytea as a plain Uint8Array (pg: Buffer). Everything the hot statements return (text, uuid,
 * bool, int4, timestamptz, jsonb, enums) pg already parses as Prisma does. Given per query (the `types`
 * of its config), so pg's global parsers, which Prisma's adapter also reads, stay as they are.
 */
const PARSERS: Partial<Record<number, (text: string) => unknown>> = {
  [builtins.INT8]: (text) => BigInt(text),
  [builtins.NUMERIC]: (text) => new Prisma.Decimal(text),
  [builtins.TIMESTAMP]: utc,
  [builtins.DATE]: (text) => new Date(`${text}T00:00:00Z`),
  [builtins.BYTEA]: (text) => {
    const buf = pg.types.getTypeParser(builtins.BYTEA, 'text')(text) as Buffer;
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
};

const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (format !== 'binary' && PARSERS[oid]) || pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Where the statements of `logQueries` go: text (or name) and duration, never parameters. */
export type QueryLog = (query: string, ms: number) => void;

/**
 * Hot statements sent through node-postgres directly, on the pool Prisma's adapter also runs on: a
 * `$queryRaw` costs 160–330 µs of event-loop CPU per statement in Prisma's runtime, the same statement
 * through pg 40–50 µs, and the sign-in path is bound by CPU (bcrypt's thread pool shares the cores).
 */
export class DirectSql {
  constructor(
    readonly pool: pg.Pool,
    private readonly log?: QueryLog,
  ) {}

  /**
   * The rows of `sql`, typed as `$queryRaw` types them. A statement carrying a `prepared:` marker is
   * prepared once per connection under its name; any other is sent unnamed (parsed each time).
   */
  async rows<T>(sql: Prisma.Sql): Promise<T[]> {
    return (await this.run(sql)).rows as T[];
  }

  /** As `$executeRaw`: the number of rows the statement wrote (or returned). */
  async execute(sql: Prisma.Sql): Promise<number> {
    return (await this.run(sql)).rowCount ?? 0;
  }

  private async run(sql: Prisma.Sql): Promise<pg.QueryResult> {
    const marked = PREPARED.exec(sql.text)?.[1];
    const started = this.log ? performance.now() : 0;
    const config: pg.QueryConfig = { text: sql.text, values: sql.values, types: TYPES };
    if (marked) config.name = NAME_PREFIX + marked;
    const result = await this.pool.query(config);
    this.log?.(sql.text, Math.round((performance.now() - started) * 1000) / 1000);
    return result;
  }
}

/** Each client's direct runner (created with it by `createPrismaClient`). */
const runners = new WeakMap<PrismaClient, DirectSql>();

export function attachDirectSql(prisma: PrismaClient, direct: DirectSql): void {
  runners.set(prisma, direct);
}

/**
 * The rows of a repository's raw statement: inside a transaction through that transaction's client (its
 * connection, so atomicity is the transaction's); outside one through node-postgres directly, on the
 * client's own pool. A client made without one (not by `createPrismaClient`) runs it through Prisma.
 */
export function queryRows<T>(prisma: PrismaClient, tx: Tx | undefined, sql: Prisma.Sql): Promise<T[]> {
  if (tx) return clientOf(tx).$queryRaw<T[]>(sql);
  const direct = runners.get(prisma);
  return direct ? direct.rows<T>(sql) : prisma.$queryRaw<T[]>(sql);
}

/** `queryRows` for a statement whose count is its result (as `$executeRaw`). */
export function execute(prisma: PrismaClient, tx: Tx | undefined, sql: Prisma.Sql): Promise<number> {
  if (tx) return clientOf(tx).$executeRaw(sql);
  const direct = runners.get(prisma);
  return direct ? direct.execute(sql) : prisma.$executeRaw(sql);
}
