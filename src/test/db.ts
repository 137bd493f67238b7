import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations, readMigrations } from '../infra/db/migrate.js';

/** A database of a test file's own, cloned from the migrated template. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
const TEMPLATE_PREFIX = 'latchkey_test_template_';
const DB_PREFIX = 'latchkey_test_db_';
// Serialises template builds across parallel test files and concurrent runs.
const TEMPLATE_LOCK_KEY = 0x1a7c4e7;
// A run's leftovers (a crashed worker never dropped its database) are dropped after this long.
const STALE_AFTER_S = 6 * 3600;

export const adminUrl = (): string => process.env.TEST_DATABASE_URL ?? DEFAULT_ADMIN_URL;

function urlFor(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

const quote = (ident: string): string => `"${ident.replaceAll('"', '""')}"`;

/** Each run names its databases after its start time, so a later run can tell leftovers apart. */
function runId(): string {
  process.env.LATCHKEY_TEST_RUN ??= `${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(3).toString('hex')}`;
  return process.env.LATCHKEY_TEST_RUN;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), application_name: 'latchkey-test-admin' });
  await client.connect().catch((err: unknown) => {
    const where = new URL(adminUrl());
    throw new Error(`test PostgreSQL unreachable at ${where.host} (set TEST_DATABASE_URL): ${String(err)}`);
  });
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Changes whenever a migration is added or edited, so a stale template is never reused. */
export async function templateName(): Promise<string> {
  const hash = createHash('sha256');
  for (const m of await readMigrations()) hash.update(`${m.name}\0${m.checksum}\n`);
  return TEMPLATE_PREFIX + hash.digest('hex').slice(0, 16);
}

async function exists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

let templateReady: Promise<string> | undefined;

/** Builds the migrated template once; the rename at the end makes a half-built one invisible. */
export function ensureTemplate(): Promise<string> {
  templateReady ??= (async () => {
    const name = await templateName();
    await withAdmin(async (client) => {
      if (await exists(client, name)) return;
      await client.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_KEY]);
      try {
        if (await exists(client, name)) return;
        const building = `${name}_building`;
        await client.query(`DROP DATABASE IF EXISTS ${quote(building)} WITH (FORCE)`);
        await client.query(`CREATE DATABASE ${quote(building)}`);
        await applyMigrations(urlFor(building), { info: () => undefined });
        await client.query(`ALTER DATABASE ${quote(building)} RENAME TO ${quote(name)}`);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_KEY]);
      }
    });
    return name;
  })();
  templateReady.catch(() => {
    templateReady = undefined;
  });
  return templateReady;
}

async function createDatabase(template: string | null): Promise<TestDatabase> {
  const name = `${DB_PREFIX}${runId()}_${randomBytes(4).toString('hex')}`;
  const from = template ? ` TEMPLATE ${quote(template)}` : '';
  await withAdmin((client) => client.query(`CREATE DATABASE ${quote(name)}${from}`));
  return {
    url: urlFor(name),
    drop: async () => {
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`));
    },
  };
}

/** A fresh, migrated database for one test file; `drop()` it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  try {
    return await createDatabase(await ensureTemplate());
  } catch (e) {
    // Another checkout's run (other migrations) may have dropped our template as a leftover: build it again.
    if ((e as { code?: string }).code !== '3D000') throw e;
    templateReady = undefined;
    return createDatabase(await ensureTemplate());
  }
}

/** An empty database with no migrations applied, for tests of the migrator itself. */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return createDatabase(null);
}

/**
 * Drops templates of other migration sets and databases left by runs that ended over
 * STALE_AFTER_S ago, or by this run when `ownRun` is set.
 */
export async function dropLeftovers(opts: { ownRun?: boolean } = {}): Promise<string[]> {
  const keep = await templateName();
  const now = Date.now() / 1000;
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2',
      [`${TEMPLATE_PREFIX}%`, `${DB_PREFIX}%`],
    );
    const dropped: string[] = [];
    for (const { datname } of rows) {
      let stale: boolean;
      if (datname.startsWith(TEMPLATE_PREFIX)) {
        // Another checkout's build may still be running: leave the in-progress ones alone.
        stale = datname !== keep && !datname.endsWith('_building');
      } else {
        const run = datname.slice(DB_PREFIX.length).split('_').slice(0, 2).join('_');
        const started = parseInt(run.split('_')[0] ?? '', 36);
        stale = (opts.ownRun === true && run === process.env.LATCHKEY_TEST_RUN) || now - started > STALE_AFTER_S;
      }
      if (!stale) continue;
      await client.query(`DROP DATABASE IF EXISTS ${quote(datname)} WITH (FORCE)`);
      dropped.push(datname);
    }
    return dropped;
  });
}

/** Sets the run id before vitest starts its workers, which inherit it. */
export const startRun = (): string => runId();
