import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServers } from '../../test/harness.js';
import type { Tx } from '../../core/tx.js';
import { execute, queryRows } from './direct.js';
import { isDatabaseUnavailable, uniqueViolation } from './errors.js';
import { createPrismaClient, prepared, Prisma, transaction, type PrismaClient } from './index.js';

describe('hot statements through node-postgres directly (queryRows)', () => {
  const fx = useTestServers('direct');
  let prisma: PrismaClient;
  beforeAll(() => {
    // One connection: every statement below meets the same backend.
    prisma = createPrismaClient(fx.db.url, { poolMax: 1 });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it('returns every column type as $queryRaw returns it', async () => {
    const statement = Prisma.sql`SELECT ${'a5bd1a55-3a0e-4f41-9c9c-1b9e2a0c3f10'}::uuid AS id, ${'text'}::text AS t, 'Mixed'::citext AS ci,
      true AS yes, NULL::boolean AS maybe, 42::int4 AS n4, 7::int2 AS n2, 9007199254740993::int8 AS n8, 1.5::float8 AS f8,
      12.340::numeric AS dec, ${new Date('2026-11-30T10:00:00.123Z')}::timestamptz AS at,
      '2026-11-30 10:00:00.5'::timestamp AS naive, '2026-11-30'::date AS day, '{"a":[1,{"b":null}]}'::jsonb AS doc,
      '\\xdeadbeef'::bytea AS bytes, 'SIGNED_IN'::"SecurityEventType" AS kind, ARRAY['x','y']::text[] AS list,
      NULL::timestamptz AS never`;
    const viaPrisma = await prisma.$queryRaw<Record<string, unknown>[]>(statement);
    const direct = await queryRows<Record<string, unknown>>(prisma, undefined, statement);
    expect(direct).toStrictEqual(viaPrisma);
    expect(direct[0]).toMatchObject({ n8: 9007199254740993n, at: new Date('2026-11-30T10:00:00.123Z'), naive: new Date('2026-11-30T10:00:00.500Z') });
  });

  it('prepares a marked statement once per connection and reuses it', async () => {
    const statement = () => prepared('direct_test_probe', Prisma.sql`SELECT ${1}::int4 + 1 AS two`);
    expect(await queryRows(prisma, undefined, statement())).toEqual([{ two: 2 }]);
    expect(await queryRows(prisma, undefined, statement())).toEqual([{ two: 2 }]);
    const held = await queryRows<{ name: string }>(prisma, undefined, Prisma.sql`SELECT name FROM pg_prepared_statements WHERE name LIKE '%direct_test_probe'`);
    expect(held).toEqual([{ name: 'direct_direct_test_probe' }]);
    // An unmarked statement is not kept.
    await queryRows(prisma, undefined, Prisma.sql`SELECT ${1}::int4 AS one`);
    expect(await queryRows(prisma, undefined, Prisma.sql`SELECT count(*)::int4 AS n FROM pg_prepared_statements`)).toEqual([{ n: 1 }]);
  });

  it('runs inside a transaction on its connection: a rollback undoes it', async () => {
    const email = 'direct-tx@example.com';
    const insert = Prisma.sql`INSERT INTO users (id, username, email, password_hash, updated_at)
      VALUES (gen_random_uuid(), 'direct_tx', ${email}::citext, 'h', now()) RETURNING email::text AS email`;
    await expect(
      transaction(prisma, async (tx: Tx) => {
        expect(await queryRows(prisma, tx, insert)).toEqual([{ email }]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await prisma.user.count({ where: { email } })).toBe(0);
  });

  it('counts what a statement wrote, as $executeRaw does', async () => {
    const touch = Prisma.sql`UPDATE users SET updated_at = now() WHERE username LIKE 'direct\_%'`;
    await queryRows(prisma, undefined, Prisma.sql`INSERT INTO users (id, username, email, password_hash, updated_at)
      SELECT gen_random_uuid(), 'direct_n' || i, 'direct_n' || i || '@example.com', 'h', now() FROM generate_series(1, 3) i`);
    expect(await execute(prisma, undefined, touch)).toBe(await prisma.$executeRaw(touch));
    expect(await execute(prisma, undefined, touch)).toBeGreaterThanOrEqual(3);
  });

  it('classifies a unique violation as Prisma does (the same index name)', async () => {
    const insert = (username: string) => Prisma.sql`INSERT INTO users (id, username, email, password_hash, updated_at)
      VALUES (gen_random_uuid(), ${username}::citext, ${`${username}@example.com`}::citext, 'h', now())`;
    await queryRows(prisma, undefined, insert('direct_dup'));
    const direct = await queryRows(prisma, undefined, insert('Direct_Dup')).catch((e: unknown) => e);
    const viaPrisma = await prisma.$queryRaw(insert('DIRECT_DUP')).catch((e: unknown) => e);
    expect(uniqueViolation(viaPrisma)).toBe('users_username_key');
    expect(uniqueViolation(direct)).toBe('users_username_key');
    expect(isDatabaseUnavailable(direct)).toBe(false);
  });

  it('logs direct statements, never their parameters, when asked', async () => {
    const lines: Array<{ obj: object; msg?: string }> = [];
    const logged = createPrismaClient(fx.db.url, { poolMax: 1, logQueries: true, log: { info: (obj, msg) => void lines.push({ obj, msg }) } });
    try {
      await queryRows(logged, undefined, prepared('direct_test_logged', Prisma.sql`SELECT count(*)::int4 AS n FROM users WHERE email = ${'secret-probe@example.com'}::citext`));
    } finally {
      await logged.$disconnect();
      // A second disconnect ends nothing twice (pg throws on a second pool.end()).
      await logged.$disconnect();
    }
    const queries = lines.filter((l) => l.msg === 'db query').map((l) => l.obj as { query?: string; ms?: number });
    expect(queries.some((q) => q.query?.includes('prepared:direct_test_logged') && typeof q.ms === 'number')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('secret-probe');
  });

  it('reports an unreachable database as an outage', async () => {
    const url = new URL(fx.db.url);
    url.port = '1'; // nothing listens there
    const gone = createPrismaClient(url.toString(), { poolMax: 1 });
    try {
      const err = await queryRows(gone, undefined, Prisma.sql`SELECT 1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(err)).toBe(true);
    } finally {
      await gone.$disconnect();
    }
  });
});
