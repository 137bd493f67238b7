import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './embedded.js';
import { applyMigrations, readMigrations } from './migrate.js';

const silent = { info: () => undefined };
const postgresId = (flag: '-u' | '-g'): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));

async function scalar(url: string, sql: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<unknown[]>({ text: sql, rowMode: 'array' });
    return rows[0]?.[0];
  } finally {
    await client.end();
  }
}

describe('startEmbeddedPostgres', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp('/tmp/latchkey-embedded-');
    // mkdtemp makes it 0700, and PostgreSQL runs as `postgres` when the tests run as root.
    await chmod(root, 0o755);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('starts, takes the migrations, answers, stops, and starts again on the same data', async () => {
    const dataDir = path.join(root, 'postgres');
    const first = await startEmbeddedPostgres(dataDir, silent);
    try {
      const { applied } = await applyMigrations(first.url, silent);
      expect(applied).toEqual((await readMigrations()).map((m) => m.name));
      expect(await scalar(first.url, 'SELECT current_database()')).toBe('latchkey');
      await scalar(first.url, `INSERT INTO users (username, email, password_hash, updated_at) VALUES ('kept', 'kept@example.com', 'x', now()) RETURNING 1`);
    } finally {
      await first.stop();
    }
    await expect(scalar(first.url, 'SELECT 1')).rejects.toThrow();

    const second = await startEmbeddedPostgres(dataDir, silent);
    try {
      expect(second.url).toBe(first.url);
      expect(await applyMigrations(second.url, silent)).toEqual({ applied: [] });
      expect(await scalar(second.url, `SELECT username::text FROM users`)).toBe('kept');
    } finally {
      await second.stop();
    }
  });

  // Crash, then restart: the old postmaster's PID now belongs to an unrelated live process.
  it('is not blocked by a postmaster.pid left by a crash', async () => {
    const dataDir = path.join(root, 'postgres');
    const pidFile = path.join(dataDir, 'pgdata', 'postmaster.pid');
    // PostgreSQL gives up whenever it may signal that PID, so the stand-in runs as its user.
    const asPostgres = userInfo().uid === 0 ? { uid: postgresId('-u'), gid: postgresId('-g') } : {};
    const standIn = spawn('sleep', ['60'], { ...asPostgres, stdio: 'ignore' });
    await writeFile(pidFile, `${standIn.pid}\n${path.join(dataDir, 'pgdata')}\n1700000000\n5433\n\n127.0.0.1\n`);
    try {
      const db = await startEmbeddedPostgres(dataDir, silent);
      expect(await scalar(db.url, 'SELECT count(*)::int FROM users')).toBe(1);
      await db.stop();
    } finally {
      standIn.kill();
    }
  });

  it('keeps its password out of reach of other local users', async () => {
    const state = path.join(root, 'postgres', 'embedded.json');
    const { mode } = await stat(state);
    expect(mode & 0o077).toBe(0);
    expect(JSON.parse(await readFile(state, 'utf8'))).toMatchObject({ initialised: true });
  });
});
