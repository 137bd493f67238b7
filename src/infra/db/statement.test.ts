import { describe, expect, it } from 'vitest';
import { Prisma } from '../../generated/prisma/client.js';
import { insertRows, prepared, sqlOf, statementPart, withParts } from './statement.js';

const row = (id: string, n: number) => [
  ['id', Prisma.sql`${id}::uuid`],
  ['n', Prisma.sql`${n}::int`],
] as const;

describe('statement parts', () => {
  it('insertRows: one text for any values, every value a parameter', () => {
    const a = insertRows('things', [row('a', 1), row('b', 2)]);
    expect(a.text).toBe('INSERT INTO things (id, n) VALUES ($1::uuid,$2::int), ($3::uuid,$4::int)');
    expect(a.values).toEqual(['a', 1, 'b', 2]);
    expect(insertRows('things', [row('c', 3), row('d', 4)]).text).toBe(a.text);
  });

  it('insertRows: a condition and RETURNING, and names that can only be plain', () => {
    const gated = insertRows('things', [row('a', 1)], { onlyIf: Prisma.sql`EXISTS (SELECT 1 FROM other)`, returning: Prisma.sql`t.id`, as: 't' });
    expect(gated.text).toBe('INSERT INTO things AS t (id, n) SELECT * FROM (VALUES ($1::uuid,$2::int)) AS v WHERE EXISTS (SELECT 1 FROM other) RETURNING t.id');
    expect(() => insertRows('things; DROP TABLE users', [row('a', 1)])).toThrow(/plain lower-case name/);
    expect(() => insertRows('things', [[['id"', Prisma.sql`1`]]])).toThrow(/plain lower-case name/);
    expect(() => insertRows('things', [row('a', 1), [['id', Prisma.sql`${'b'}::uuid`]]])).toThrow(/different columns/);
    expect(() => insertRows('things', [])).toThrow(/no rows/);
  });

  it('withParts: the parts in order under their names, each name once', () => {
    const one = statementPart('one', Prisma.sql`INSERT INTO a (x) VALUES (${1}::int)`);
    const two = statementPart('two', Prisma.sql`INSERT INTO b (y) VALUES (${2}::int)`);
    expect(withParts([one, two]).text).toBe('WITH one AS (INSERT INTO a (x) VALUES ($1::int)),\ntwo AS (INSERT INTO b (y) VALUES ($2::int))');
    expect(sqlOf(two).text).toBe('INSERT INTO b (y) VALUES ($1::int)');
    expect(() => withParts([one, one])).toThrow(/twice/);
    expect(() => statementPart('One-2', Prisma.sql`SELECT 1`)).toThrow(/lower case/);
  });

  it('prepared: marked while the text is the one its name was first given, unmarked otherwise', () => {
    const first = prepared('statement_test_name', Prisma.sql`SELECT ${1}::int`);
    expect(first.text).toBe('/* prepared:statement_test_name */\nSELECT $1::int');
    expect(prepared('statement_test_name', Prisma.sql`SELECT ${2}::int`).text).toBe(first.text);
    // Another text under the same name would be refused by the driver: it runs unprepared instead.
    expect(prepared('statement_test_name', Prisma.sql`SELECT ${1}::int, ${2}::int`).text).toBe('SELECT $1::int, $2::int');
  });
});
