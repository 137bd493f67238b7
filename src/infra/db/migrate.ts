import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The slice of a pino logger the database layer writes to. */
export interface DbLog {
  info(obj: object, msg?: string): void;
}

export interface LocalMigration {
  name: string;
  sql: string;
  /** sha-256 hex of the file, as Prisma records it. */
  checksum: string;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

// Prisma Migrate's own key: our migrator and `prisma migrate deploy` exclude each other too.
const MIGRATION_LOCK_KEY = 72707369;

// Same columns and types as the table the Prisma schema engine creates.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** The directory holding package.json, from src/ under tsx as from dist/ after tsc. */
export function projectRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export function defaultMigrationsDir(): string {
  return path.join(projectRoot(), 'prisma', 'migrations');
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** `prisma/migrations/<name>/migration.sql`, in the order Prisma applies them. */
export async function readMigrations(migrationsDir: string = defaultMigrationsDir()): Promise<LocalMigration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(migrationsDir, name, 'migration.sql');
      const sql = await readFile(file, 'utf8').catch(() => {
        throw new Error(`migration ${name} has no migration.sql`);
      });
      return { name, sql, checksum: sha256(sql) };
    }),
  );
}

// A checkout with other line endings is the same migration (Prisma accepts it as well).
function sameScript(local: LocalMigration, recorded: string): boolean {
  if (local.checksum === recorded) return true;
  const lf = local.sql.replace(/\r\n/g, '\n');
  return sha256(lf) === recorded || sha256(lf.replace(/\n/g, '\r\n')) === recorded;
}

/** Rows that count: a rolled-back attempt is as if never applied, as in Prisma. */
function checkHistory(local: LocalMigration[], rows: AppliedRow[], log: DbLog): Set<string> {
  const byName = new Map(local.map((m) => [m.name, m]));
  const applied = new Set<string>();
  for (const row of rows) {
    if (row.rolled_back_at) continue;
    if (!row.finished_at) {
      throw new Error(
        `migration ${row.migration_name} is recorded as failed in _prisma_migrations; ` +
          'repair the database, then mark it with `prisma migrate resolve` before starting',
      );
    }
    const mine = byName.get(row.migration_name);
    if (!mine) {
      // A newer release may already have migrated: its migrations are meant to be backward compatible.
      log.info({ migration: row.migration_name }, 'database has a migration this build does not know');
    } else if (!sameScript(mine, row.checksum)) {
      throw new Error(`migration ${row.migration_name} was modified after it was applied (checksum differs)`);
    }
    applied.add(row.migration_name);
  }
  return applied;
}

async function applyOne(client: pg.Client, m: LocalMigration): Promise<void> {
  // Migration and its record commit together, so a failure leaves neither behind and the next
  // start simply retries (Prisma, without a transaction, would leave a "failed" row instead).
  await client.query('BEGIN');
  try {
    await client.query(m.sql);
    await client.query(
      `INSERT INTO "_prisma_migrations"
         (id, checksum, migration_name, logs, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, NULL, now(), clock_timestamp(), 1)`,
      [randomUUID(), m.checksum, m.name],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`migration ${m.name} failed: ${reason}`, { cause: err });
  }
}

/**
 * Applies pending `prisma/migrations` in order, each in its own transaction, recording them in
 * Prisma's `_prisma_migrations` table. Holds Prisma's advisory lock throughout, so concurrent
 * starts serialise: the later one waits and then finds nothing to do.
 * @throws when an applied migration was edited or one is recorded as failed.
 */
export async function applyMigrations(
  databaseUrl: string,
  log: DbLog,
  migrationsDir: string = defaultMigrationsDir(),
): Promise<{ applied: string[] }> {
  const local = await readMigrations(migrationsDir);
  // A client of its own: a session-level advisory lock must not go back into a pool.
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latchkey-migrate' });
  // An idle client's socket error would otherwise crash the process instead of failing the query.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      MIGRATION_LOCK_KEY,
    ]);
    if (!lock[0]?.ok) {
      log.info({}, 'another instance is migrating; waiting for it');
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    }
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const done = checkHistory(local, rows, log);
    const applied: string[] = [];
    for (const m of local) {
      if (done.has(m.name)) continue;
      const started = performance.now();
      await applyOne(client, m);
      applied.push(m.name);
      log.info({ migration: m.name, ms: Math.round(performance.now() - started) }, 'migration applied');
    }
    return { applied };
  } finally {
    // Closing the session releases the lock even if the unlock itself fails.
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
