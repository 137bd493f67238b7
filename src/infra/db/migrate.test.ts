import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmptyDatabase, type TestDatabase } from '../../test/db.js';
import { applyMigrations, defaultMigrationsDir, readMigrations } from './migrate.js';

const silent = { info: () => undefined };

function recorder() {
  const lines: string[] = [];
  return { lines, log: { info: (_obj: object, msg?: string) => void lines.push(msg ?? '') } };
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** The real migrations plus one more, in a folder of their own. */
async function migrationsWith(name: string, sql: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-migrations-'));
  await cp(defaultMigrationsDir(), dir, { recursive: true });
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
  return dir;
}

describe('applyMigrations', () => {
  const cleanup: Array<() => Promise<void>> = [];
  async function freshDb(): Promise<TestDatabase> {
    const db = await createEmptyDatabase();
    cleanup.push(db.drop);
    return db;
  }
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  it('applies every migration to a fresh database and records it as Prisma does', async () => {
    const db = await freshDb();
    const local = await readMigrations();
    const { applied } = await applyMigrations(db.url, silent);
    expect(applied).toEqual(local.map((m) => m.name));

    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null; logs: string | null; applied_steps_count: number }>(
      db.url,
      'SELECT migration_name, checksum, finished_at, logs, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows).toHaveLength(local.length);
    for (const [i, row] of rows.entries()) {
      const m = local[i]!;
      expect(row.migration_name).toBe(m.name);
      expect(row.checksum).toBe(createHash('sha256').update(m.sql).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('makes usernames and emails unique regardless of case (citext)', async () => {
    const db = await freshDb();
    await applyMigrations(db.url, silent);
    const insert = `INSERT INTO users (username, email, password_hash, updated_at) VALUES ($1, $2, 'x', now())`;
    await query(db.url, insert, ['Alice', 'Alice@Example.com']);
    await expect(query(db.url, insert, ['alice', 'other@example.com'])).rejects.toThrow(/users_username_key/);
    await expect(query(db.url, insert, ['bob', 'alice@example.COM'])).rejects.toThrow(/users_email_key/);
  });

  it('applies nothing on a second run', async () => {
    const db = await freshDb();
    await applyMigrations(db.url, silent);
    expect(await applyMigrations(db.url, silent)).toEqual({ applied: [] });
  });

  // Race: two instances booting at once on a fresh database both see it empty.
  it('applies each migration once when two instances start at the same time', async () => {
    const db = await freshDb();
    const dir = await migrationsWith('99990101000000_slow', 'SELECT pg_sleep(0.5);');
    cleanup.push(() => rm(dir, { recursive: true }));
    const [a, b] = [recorder(), recorder()];
    const results = await Promise.all([applyMigrations(db.url, a.log, dir), applyMigrations(db.url, b.log, dir)]);

    const all = (await readMigrations(dir)).map((m) => m.name);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, all.length]);
    expect([...a.lines, ...b.lines].filter((l) => l.includes('waiting'))).toHaveLength(1);
    const counts = await query<{ migration_name: string; n: string }>(
      db.url,
      'SELECT migration_name, count(*) AS n FROM _prisma_migrations GROUP BY migration_name ORDER BY 1',
    );
    expect(counts).toEqual(all.map((name) => ({ migration_name: name, n: '1' })));
  });

  it('refuses to start when an applied migration was edited', async () => {
    const db = await freshDb();
    await applyMigrations(db.url, silent);
    await query(db.url, `UPDATE _prisma_migrations SET checksum = repeat('0', 64)`);
    await expect(applyMigrations(db.url, silent)).rejects.toThrow(/modified after it was applied/);
  });

  it('refuses to start when a migration is recorded as failed', async () => {
    const db = await freshDb();
    await applyMigrations(db.url, silent);
    await query(db.url, `UPDATE _prisma_migrations SET finished_at = NULL, logs = 'boom'`);
    await expect(applyMigrations(db.url, silent)).rejects.toThrow(/recorded as failed/);
  });

  it('rolls a failing migration back whole and records nothing, so the next start retries', async () => {
    const db = await freshDb();
    const dir = await migrationsWith('99990101000000_broken', 'CREATE TABLE half_done (id int);\nSELECT no_such_column FROM users;');
    cleanup.push(() => rm(dir, { recursive: true }));
    await expect(applyMigrations(db.url, silent, dir)).rejects.toThrow(/99990101000000_broken failed/);

    const tables = await query(db.url, `SELECT 1 FROM pg_tables WHERE tablename = 'half_done'`);
    expect(tables).toHaveLength(0);
    const rows = await query<{ migration_name: string }>(db.url, 'SELECT migration_name FROM _prisma_migrations');
    expect(rows.map((r) => r.migration_name)).not.toContain('99990101000000_broken');
  });

  it('accepts the same migration checked out with CRLF line endings', async () => {
    const db = await freshDb();
    await applyMigrations(db.url, silent);
    const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-migrations-'));
    cleanup.push(() => rm(dir, { recursive: true }));
    for (const m of await readMigrations()) {
      await mkdir(path.join(dir, m.name));
      await writeFile(path.join(dir, m.name, 'migration.sql'), m.sql.replace(/\n/g, '\r\n'));
    }
    expect(await applyMigrations(db.url, silent, dir)).toEqual({ applied: [] });
  });
});
