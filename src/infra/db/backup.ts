import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { applyMigrations } from './migrate.js';
import {
  BackupError,
  findPgTools,
  libpqConnection,
  majorOf,
  pickDumpTool,
  restoreToolOrder,
  installHint,
  type BackupErrorCode,
  type PgClientTools,
} from './pg-tools.js';

const run = promisify(execFile);

/** Progress for a person; never given a URL or a password. */
export type BackupLog = (line: string) => void;

interface ServerInfo {
  major: number;
  /** `server_version`, e.g. `15.20 (Debian 15.20-0+deb12u1)`. */
  version: string;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latchkey-backup', connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const { rows } = await client.query<{ version: string; num: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`,
  );
  const row = rows[0]!;
  return { version: row.version, major: Math.floor(Number(row.num) / 10_000) };
}

async function runTool(file: string, args: string[], env: NodeJS.ProcessEnv, code: BackupErrorCode, what: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { env, maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr?.trim() || e.message).slice(-4000);
    throw new BackupError(code, `${what} failed: ${detail}`);
  }
}

/** What `pg_restore --list` says about an archive. */
export interface ArchiveInfo {
  /** The server the dump was taken from (`Dumped from database version`). */
  dumpedFrom: string;
  dumpedBy: string;
  /** Entries in the archive's table of contents, and how many of them are table data. */
  entries: number;
  tables: number;
}

export function parseArchiveList(list: string): ArchiveInfo {
  const header = (label: string) => new RegExp(`^;\\s*${label}:\\s*(.+)$`, 'm').exec(list)?.[1]?.trim() ?? 'unknown';
  const entries = list.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';'));
  return {
    dumpedFrom: header('Dumped from database version'),
    dumpedBy: header('Dumped by pg_dump version'),
    entries: entries.length,
    tables: entries.filter((l) => / TABLE DATA /.test(l)).length,
  };
}

const exists = (file: string) => stat(file).then(() => true, () => false);

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** `20261129T231500Z`: sorts by time, and has no character a file system or a shell minds. */
export function utcStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export interface BackupOptions {
  databaseUrl: string;
  /** Folder of the backups; created (0700) when missing. */
  dir: string;
  /** Look for pg_dump/pg_restore only here. */
  binDir?: string;
  now?: Date;
  log?: BackupLog;
}

export interface BackupResult {
  file: string;
  /** `<file>.sha256`, in `sha256sum -c` format. */
  checksumFile: string;
  sha256: string;
  bytes: number;
  serverVersion: string;
  tool: PgClientTools;
  archive: ArchiveInfo;
}

/**
 * A consistent dump of the database (pg_dump runs in one repeatable-read snapshot, so concurrent
 * writes are either wholly in or wholly out) in pg_dump's custom format, named by UTC time. The file is
 * written under a temporary name, read back in full by pg_restore (every block decompressed), and
 * only then given its final name, so a file with a final name is a complete, readable archive.
 */
export async function backupDatabase(opts: BackupOptions): Promise<BackupResult> {
  const log = opts.log ?? (() => undefined);
  const conn = libpqConnection(opts.databaseUrl);
  const server = await withClient(opts.databaseUrl, serverInfo);
  const tools = await findPgTools(opts.binDir ? [opts.binDir] : undefined);
  const tool = pickDumpTool(tools, server.major);
  log(`server PostgreSQL ${server.version}, database ${conn.database}; using pg_dump ${tool.version} from ${tool.dir}`);

  const dir = path.resolve(opts.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `latchkey-${utcStamp(opts.now ?? new Date())}.dump`);
  const partial = `${file}.partial`;
  try {
    // The dump holds password hashes and sealed secrets: readable by its owner only.
    await writeFile(partial, '', { mode: 0o600 });
    await runTool(
      tool.pgDump,
      ['--format=custom', `--file=${partial}`, `--dbname=${conn.url}`, '--no-password', '--lock-wait-timeout=60s'],
      conn.env,
      'DUMP_FAILED',
      'pg_dump',
    );
    await chmod(partial, 0o600);
    const archive = parseArchiveList(await runTool(tool.pgRestore, ['--list', partial], conn.env, 'VERIFY_FAILED', 'pg_restore --list'));
    // A full read of every data block into nothing: catches a truncated or corrupt archive now, not on the day it is needed.
    await runTool(tool.pgRestore, ['--file=/dev/null', partial], conn.env, 'VERIFY_FAILED', 'pg_restore (read-back)');
    const sha256 = await sha256File(partial);
    try {
      await link(partial, file); // never replaces an existing backup (unlike rename)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (await exists(file))) throw new BackupError('FILE_EXISTS', `${file} already exists`);
      // A file system without hard links (some network and FUSE mounts): checked above, then renamed.
      await rename(partial, file);
    }
    const checksumFile = `${file}.sha256`;
    await writeFile(checksumFile, `${sha256}  ${path.basename(file)}\n`, { mode: 0o600 });
    const { size } = await stat(file);
    log(`verified: ${archive.entries} entries, ${archive.tables} tables with data, ${size} bytes, sha256 ${sha256}`);
    return { file, checksumFile, sha256, bytes: size, serverVersion: server.version, tool, archive };
  } finally {
    await rm(partial, { force: true });
  }
}

export interface RestoreOptions {
  databaseUrl: string;
  file: string;
  /** Replace a database that already holds tables (it is dropped and created anew). */
  force?: boolean;
  binDir?: string;
  log?: BackupLog;
}

export interface RestoreResult {
  database: string;
  serverVersion: string;
  tool: PgClientTools;
  archive: ArchiveInfo;
  /** false when no `<file>.sha256` was beside the dump (one made by plain pg_dump). */
  checksumVerified: boolean;
  /** Migrations newer than the backup, applied after it. */
  migrationsApplied: string[];
}

async function verifyChecksum(file: string): Promise<boolean> {
  const recorded = await readFile(`${file}.sha256`, 'utf8').catch(() => null);
  if (recorded === null) return false;
  const expected = recorded.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  if (!/^[0-9a-f]{64}$/.test(expected)) throw new BackupError('CHECKSUM_MISMATCH', `${file}.sha256 holds no SHA-256 digest`);
  if ((await sha256File(file)) !== expected) {
    throw new BackupError('CHECKSUM_MISMATCH', `${file} does not match ${file}.sha256: the file changed or is damaged since the backup`);
  }
  return true;
}

/** The pg_restore that reads this archive, tried in order of fitness for the server; and what it says of it. */
async function readArchive(tools: PgClientTools[], server: ServerInfo, file: string, env: NodeJS.ProcessEnv) {
  const errors: string[] = [];
  for (const tool of restoreToolOrder(tools, server.major)) {
    try {
      const list = await runTool(tool.pgRestore, ['--list', file], env, 'UNREADABLE_ARCHIVE', `pg_restore ${tool.version}`);
      return { tool, archive: parseArchiveList(list) };
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (tools.length === 0) {
    throw new BackupError('NO_MATCHING_TOOL', `no pg_restore was found; to fix: ${installHint(server.major)}`);
  }
  throw new BackupError(
    'UNREADABLE_ARCHIVE',
    `no pg_restore found here reads ${file} (an archive needs the pg_restore of the pg_dump that wrote it, or a newer one): ${errors.join(' | ')}`,
  );
}

const USER_RELATIONS = `
  SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND s.nspname NOT IN ('pg_catalog', 'information_schema')
    AND s.nspname NOT LIKE 'pg\\_toast%' AND s.nspname NOT LIKE 'pg\\_temp\\_%'`;

/** The same server's maintenance database (`postgres`, else `template1`), for CREATE and DROP DATABASE. */
async function withMaintenance<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (const name of ['postgres', 'template1']) {
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    let connected = false;
    try {
      return await withClient(url.toString(), async (client) => {
        connected = true;
        return fn(client);
      });
    } catch (err) {
      if (connected) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function assertMayCreate(client: pg.Client, database: string): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT (rolsuper OR rolcreatedb) AS ok FROM pg_roles WHERE rolname = current_user`,
  );
  if (!rows[0]?.ok) {
    throw new BackupError(
      'CANNOT_CREATE_DATABASE',
      `the database role lacks CREATEDB: as a privileged role, create an empty database ${database} owned by this role, then restore again (without --force)`,
    );
  }
}

type TargetState = { kind: 'missing' } | { kind: 'empty'; server: ServerInfo } | { kind: 'not-empty'; server: ServerInfo; relations: number };

async function targetState(databaseUrl: string): Promise<TargetState> {
  try {
    return await withClient(databaseUrl, async (client) => {
      const server = await serverInfo(client);
      const { rows } = await client.query<{ n: number }>(USER_RELATIONS);
      const relations = rows[0]?.n ?? 0;
      return relations === 0 ? { kind: 'empty', server } : { kind: 'not-empty', server, relations };
    });
  } catch (err) {
    if ((err as { code?: string }).code === '3D000') return { kind: 'missing' };
    throw err;
  }
}

/**
 * Restores a dump into the configured database, then applies the migrations newer than the dump. An
 * existing database with tables is left alone unless `force` (then it is dropped, its connections ended,
 * and created anew); a missing one is created. The restore runs in one transaction: a failure leaves
 * the database empty, never half-restored. Objects end up owned by the restoring role, and grants to
 * other roles are not restored (the service needs none), so a dump of the embedded database restores
 * into a managed server and back.
 */
export async function restoreDatabase(opts: RestoreOptions): Promise<RestoreResult> {
  const log = opts.log ?? (() => undefined);
  const file = path.resolve(opts.file);
  if (!(await stat(file).then((s) => s.isFile(), () => false))) throw new BackupError('FILE_NOT_FOUND', `${file} is not a file`);
  const checksumVerified = await verifyChecksum(file);
  log(checksumVerified ? 'checksum matches' : `no ${path.basename(file)}.sha256 beside the dump: its integrity is not checked`);

  const conn = libpqConnection(opts.databaseUrl);
  const state = await targetState(opts.databaseUrl);
  const server = state.kind === 'missing' ? await withMaintenance(opts.databaseUrl, serverInfo) : state.server;
  const tools = await findPgTools(opts.binDir ? [opts.binDir] : undefined);
  const { tool, archive } = await readArchive(tools, server, file, conn.env);
  log(`archive of PostgreSQL ${archive.dumpedFrom} (${archive.tables} tables with data); server PostgreSQL ${server.version}; using pg_restore ${tool.version} from ${tool.dir}`);
  const fromMajor = majorOf(archive.dumpedFrom);
  if (fromMajor !== undefined && fromMajor > server.major) {
    throw new BackupError(
      'OLDER_SERVER',
      `the dump comes from PostgreSQL ${fromMajor} and the target server runs ${server.major}: restore into PostgreSQL ${fromMajor} or newer`,
    );
  }

  const db = quoteIdent(conn.database);
  if (state.kind === 'not-empty') {
    if (!opts.force) {
      throw new BackupError(
        'NOT_EMPTY',
        `database ${conn.database} already holds ${state.relations} tables or other relations; pass --force to drop it and restore in its place (stop the instances first)`,
      );
    }
    await withMaintenance(opts.databaseUrl, async (client) => {
      await assertMayCreate(client, conn.database);
      log(`dropping database ${conn.database} (--force) and creating it anew`);
      await client.query(`DROP DATABASE ${db} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${db}`);
    });
  } else if (state.kind === 'missing') {
    await withMaintenance(opts.databaseUrl, async (client) => {
      await assertMayCreate(client, conn.database);
      log(`creating database ${conn.database}`);
      await client.query(`CREATE DATABASE ${db}`);
    });
  }

  await runTool(
    tool.pgRestore,
    [`--dbname=${conn.url}`, '--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '--no-password', file],
    conn.env,
    'RESTORE_FAILED',
    'pg_restore',
  );
  // pg_restore leaves the planner without statistics until autovacuum comes by.
  await withClient(opts.databaseUrl, (client) => client.query('ANALYZE'));
  const { applied } = await applyMigrations(opts.databaseUrl, { info: (_obj, msg) => msg && log(msg) });
  log(`restored into ${conn.database}${applied.length ? `; applied ${applied.length} newer migration(s)` : ''}`);
  return { database: conn.database, serverVersion: server.version, tool, archive, checksumVerified, migrationsApplied: applied };
}
