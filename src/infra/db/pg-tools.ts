import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { binariesPackageDir } from './embedded-binaries.js';

const run = promisify(execFile);

/** What can go wrong in a backup or a restore: stable codes for scripts and tests, a sentence for people. */
export type BackupErrorCode =
  | 'NO_MATCHING_TOOL'
  | 'DUMP_FAILED'
  | 'VERIFY_FAILED'
  | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS'
  | 'CHECKSUM_MISMATCH'
  | 'UNREADABLE_ARCHIVE'
  | 'OLDER_SERVER'
  | 'NOT_EMPTY'
  | 'CANNOT_CREATE_DATABASE'
  | 'RESTORE_FAILED'
  | 'BAD_DATABASE_URL';

export class BackupError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

/** One installation of the PostgreSQL client programs (pg_dump and pg_restore side by side). */
export interface PgClientTools {
  dir: string;
  /** Major version (15, 16, ...), the part that must suit the server. */
  major: number;
  /** As the program prints it, e.g. `15.20`. */
  version: string;
  pgDump: string;
  pgRestore: string;
}

/** `PostgreSQL 15.20 (Debian ...)` or `pg_dump (PostgreSQL) 18.1` -> 15 / 18; 9.6 -> 9. */
export function majorOf(version: string): number | undefined {
  const m = /(\d+)(?:\.(\d+))?/.exec(version);
  return m ? Number(m[1]) : undefined;
}

const isExecutable = (file: string) => access(file, constants.X_OK).then(() => true, () => false);

async function globDirs(parent: string, match: RegExp, sub: string): Promise<string[]> {
  const names = await readdir(parent).catch(() => [] as string[]);
  return names
    .filter((n) => match.test(n))
    .sort((a, b) => (majorOf(b) ?? 0) - (majorOf(a) ?? 0))
    .map((n) => path.join(parent, n, sub));
}

/**
 * Where client programs are looked for, most specific first: the embedded PostgreSQL's own folder
 * (some builds ship them), the per-version layouts of Debian/Ubuntu, the PGDG RPMs and Homebrew, then PATH.
 */
export async function candidateDirs(): Promise<string[]> {
  const dirs: string[] = [];
  try {
    dirs.push(path.join(binariesPackageDir(), 'native', 'bin'));
  } catch {
    // The embedded binaries are an optional dependency (the container image leaves them out).
  }
  dirs.push(...(await globDirs('/usr/lib/postgresql', /^\d+$/, 'bin')));
  dirs.push(...(await globDirs('/usr', /^pgsql-\d+$/, 'bin')));
  for (const brew of ['/opt/homebrew/opt', '/usr/local/opt']) dirs.push(...(await globDirs(brew, /^postgresql@\d+$/, 'bin')));
  dirs.push(...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  return dirs;
}

/** Every usable pg_dump + pg_restore pair in `dirs` (default: {@link candidateDirs}), each installation once. */
export async function findPgTools(dirs?: readonly string[]): Promise<PgClientTools[]> {
  const found: PgClientTools[] = [];
  const seen = new Set<string>();
  for (const dir of dirs ?? (await candidateDirs())) {
    const pgDump = path.join(dir, 'pg_dump');
    const pgRestore = path.join(dir, 'pg_restore');
    if (!(await isExecutable(pgDump)) || !(await isExecutable(pgRestore))) continue;
    const real = await realpath(pgDump).catch(() => pgDump);
    if (seen.has(real)) continue;
    seen.add(real);
    const printed = await run(pgDump, ['--version'], { timeout: 10_000 }).then((r) => r.stdout.trim(), () => '');
    const version = /\)\s*(\d+(?:\.\d+)*)/.exec(printed)?.[1];
    const major = version ? majorOf(version) : undefined;
    // PATH's pg_dump is often a wrapper around one already found (Debian's pg_wrapper): the same version is one entry.
    if (version && major && !found.some((t) => t.version === version)) found.push({ dir, major, version, pgDump, pgRestore });
  }
  return found;
}

const listed = (tools: readonly PgClientTools[]) =>
  tools.length === 0 ? 'none was found' : `found ${tools.map((t) => `${t.version} in ${t.dir}`).join(', ')}`;

export const installHint = (major: number) =>
  `install the PostgreSQL ${major} client programs (Debian/Ubuntu: postgresql-client-${major} from the PostgreSQL apt repository; ` +
  `RHEL: postgresql${major} from the PGDG repository; macOS: brew install postgresql@${major}), or point --bin-dir at a folder holding them`;

/**
 * The pg_dump for a server of major version `serverMajor`: the same major if there is one, else the
 * nearest newer one (pg_dump reads older servers, never newer ones: an older pg_dump refuses).
 */
export function pickDumpTool(tools: readonly PgClientTools[], serverMajor: number): PgClientTools {
  const usable = tools.filter((t) => t.major >= serverMajor).sort((a, b) => a.major - b.major);
  const tool = usable[0];
  if (!tool) {
    throw new BackupError(
      'NO_MATCHING_TOOL',
      `the server runs PostgreSQL ${serverMajor}, and pg_dump must be version ${serverMajor} or newer; ${listed(tools)}. To fix: ${installHint(serverMajor)}`,
    );
  }
  return tool;
}

/**
 * The order in which pg_restore programs are tried on an archive for a server of `serverMajor`: the same
 * major first, then newer ones (nearest first), then older ones (newest first). An archive is readable by
 * the pg_restore of the pg_dump that wrote it and by newer ones; the caller tries each in turn.
 */
export function restoreToolOrder(tools: readonly PgClientTools[], serverMajor: number): PgClientTools[] {
  const rank = (t: PgClientTools) => (t.major === serverMajor ? 0 : t.major > serverMajor ? t.major - serverMajor : 1000 + (serverMajor - t.major));
  return [...tools].sort((a, b) => rank(a) - rank(b));
}

/** Query parameters of a connection URL that libpq itself understands (others, e.g. Prisma's, are dropped). */
const LIBPQ_PARAMS = new Set([
  'host', 'hostaddr', 'port', 'dbname', 'user', 'passfile', 'channel_binding', 'connect_timeout', 'client_encoding', 'options',
  'application_name', 'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'sslmode',
  'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey', 'sslpassword', 'sslcertmode', 'sslrootcert', 'sslcrl', 'sslcrldir',
  'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'gssencmode', 'krbsrvname', 'gsslib',
  'gssdelegation', 'service', 'target_session_attrs', 'load_balance_hosts',
]);

export interface LibpqConnection {
  /** The URL without its password: safe to put on a command line (other local users can read those). */
  url: string;
  /** Environment for the child: the password travels in PGPASSWORD, never in argv. */
  env: NodeJS.ProcessEnv;
  database: string;
}

/** Splits a `postgres://` URL into what pg_dump/pg_restore take, keeping the password off the command line. */
export function libpqConnection(databaseUrl: string, database?: string): LibpqConnection {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new BackupError('BAD_DATABASE_URL', 'the database URL is not a valid postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new BackupError('BAD_DATABASE_URL', `the database URL must start with postgres:// or postgresql://, not ${url.protocol}//`);
  }
  const password = decodeURIComponent(url.password);
  url.password = '';
  if (database !== undefined) url.pathname = `/${encodeURIComponent(database)}`;
  for (const key of [...url.searchParams.keys()]) if (!LIBPQ_PARAMS.has(key)) url.searchParams.delete(key);
  // Without a password in the URL, libpq falls back to PGPASSWORD or ~/.pgpass, as node-postgres does for the service.
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' };
  if (password) env.PGPASSWORD = password;
  return { url: url.toString(), env, database: decodeURIComponent(url.pathname.slice(1)) };
}
