import { Prisma } from '../../generated/prisma/client.js';
import type { StatementPart } from '../../core/tx.js';

/** What a `StatementPart` is behind its handle: a named data-modifying statement (`name AS (sql)`). */
interface Part {
  readonly name: string;
  readonly sql: Prisma.Sql;
}

const NAME = /^[a-z_]+$/;

/** A part named `name` (the CTE name the other parts and the final query may refer to). */
export function statementPart(name: string, sql: Prisma.Sql): StatementPart {
  if (!NAME.test(name)) throw new Error(`statement part name ${JSON.stringify(name)}: lower case and underscores only`);
  return { name, sql } as Part as unknown as StatementPart;
}

const partOf = (p: StatementPart): Part => p as unknown as Part;

/** A part's statement on its own (a path that runs it alone, inside its transaction). */
export const sqlOf = (p: StatementPart): Prisma.Sql => partOf(p).sql;

/** `WITH a AS (...), b AS (...)`: the parts of one statement, in order, each name once. */
export function withParts(parts: readonly StatementPart[]): Prisma.Sql {
  const names = new Set<string>();
  const ctes = parts.map((p) => {
    const { name, sql } = partOf(p);
    if (names.has(name)) throw new Error(`statement part ${name} twice in one statement`);
    names.add(name);
    return Prisma.sql`${Prisma.raw(name)} AS (${sql})`;
  });
  return Prisma.sql`WITH ${Prisma.join(ctes, ',\n')}`;
}

/** One column of a row to insert: its name and its value, cast to the column's type (`${v}::uuid`). */
export type Column = readonly [name: string, value: Prisma.Sql];

/**
 * `INSERT INTO table (columns) VALUES (...), ...`: each feature writes its rows' shape once, as columns,
 * and runs it alone or as a part of a larger statement. Every value carries its cast, so the same text
 * works under `SELECT` as well (PostgreSQL would otherwise type a bare parameter there as text).
 * `onlyIf`: a condition (on other parts, e.g. `EXISTS (SELECT 1 FROM session_row)`) without which
 * nothing is inserted. `as`: the table's alias, for `returning`.
 */
export function insertRows(
  table: string,
  rows: readonly (readonly Column[])[],
  opts: { onlyIf?: Prisma.Sql; returning?: Prisma.Sql; as?: string } = {},
): Prisma.Sql {
  const first = rows[0];
  if (!first) throw new Error(`insertRows(${table}): no rows`);
  const names = first.map(([name]) => name);
  // Names are written into the text as they are: the code's own constants, never anything a caller sends.
  for (const name of [table, ...names, ...(opts.as ? [opts.as] : [])]) {
    if (!NAME.test(name)) throw new Error(`insertRows(${table}): ${JSON.stringify(name)} is not a plain lower-case name`);
  }
  for (const row of rows) {
    if (row.length !== names.length || row.some(([name], i) => name !== names[i])) throw new Error(`insertRows(${table}): rows of different columns`);
  }
  const values = Prisma.join(
    rows.map((row) => Prisma.sql`(${Prisma.join(row.map(([, value]) => value))})`),
    ', ',
  );
  const target = Prisma.raw(`${table}${opts.as ? ` AS ${opts.as}` : ''} (${names.join(', ')})`);
  const source = opts.onlyIf ? Prisma.sql`SELECT * FROM (VALUES ${values}) AS v WHERE ${opts.onlyIf}` : Prisma.sql`VALUES ${values}`;
  return opts.returning ? Prisma.sql`INSERT INTO ${target} ${source} RETURNING ${opts.returning}` : Prisma.sql`INSERT INTO ${target} ${source}`;
}

/** Text each prepared statement name was first given, per process. */
const preparedTexts = new Map<string, string>();

/**
 * `sql` with the `/* prepared:name *\/` marker (read by Prisma's adapter, src/infra/db/prisma.ts, and by
 * `queryRows`, direct.ts), as long as its text is the one this name was first used with: a composed
 * statement is prepared only while its text is constant (a name reused for another text would be refused
 * by the driver); any other text runs unprepared.
 */
export function prepared(name: string, sql: Prisma.Sql): Prisma.Sql {
  if (!NAME.test(name)) throw new Error(`prepared statement name ${JSON.stringify(name)}: lower case and underscores only`);
  const text = preparedTexts.get(name);
  if (text === undefined) preparedTexts.set(name, sql.text);
  else if (text !== sql.text) return sql;
  return Prisma.sql`${Prisma.raw(`/* prepared:${name} */`)}\n${sql}`;
}
