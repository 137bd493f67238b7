import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { backupDatabase, restoreDatabase, type BackupLog } from './backup.js';
import { projectRoot } from './migrate.js';
import { BackupError } from './pg-tools.js';

/**
 * `npm run backup [-- --dir <folder>] [--bin-dir <folder>]`
 * `npm run restore -- <file> [--force] [--bin-dir <folder>]`
 *
 * Both act on the service's database: DATABASE_URL, or the embedded PostgreSQL under DATA_DIR when it
 * is unset (started for the occasion, or shared with a running instance). Progress goes to stderr; on
 * success stdout gets the dump's path (backup) or the restored database's name (restore). Exit codes:
 * 0 done, 1 failed (stderr: `latchkey <command>: <CODE>: <why>`), 2 usage.
 */
const USAGE = `usage: npm run backup [-- --dir <folder>] [--bin-dir <folder>]
       npm run restore -- <file> [--force] [--bin-dir <folder>]`;

const command = process.argv[2];
const say: BackupLog = (line) => void process.stderr.write(`latchkey ${command}: ${line}\n`);

function fail(code: string, message: string, exitCode = 1): never {
  process.stderr.write(`latchkey ${command ?? 'backup'}: ${code}: ${message}\n`);
  process.exit(exitCode);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: process.argv.slice(3),
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'bin-dir': { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
try {
  args = parse();
} catch (err) {
  fail('USAGE', `${(err as Error).message}\n${USAGE}`, 2);
}
if (args.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (command !== 'backup' && command !== 'restore') fail('USAGE', USAGE, 2);
if (command === 'backup' && args.positionals.length > 0) fail('USAGE', USAGE, 2);
if (command === 'restore' && (args.positionals.length !== 1 || args.values.dir !== undefined)) fail('USAGE', USAGE, 2);
if (command === 'backup' && args.values.force) fail('USAGE', USAGE, 2);

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) fail('CONFIG', err.message);
  throw err;
}

let databaseUrl = config.db.url;
let stopEmbedded: (() => Promise<void>) | undefined;
try {
  if (!databaseUrl) {
    // Development: the embedded cluster under DATA_DIR (shared with a running instance if one is up).
    const { startEmbeddedPostgres } = await import('./embedded.js');
    const embedded = await startEmbeddedPostgres(path.join(path.resolve(config.dataDir), 'postgres'), { info: (_obj, msg) => msg && say(msg) });
    stopEmbedded = embedded.stop;
    databaseUrl = embedded.url;
    say('using the embedded PostgreSQL (DATABASE_URL is unset)');
  }
  const binDir = args.values['bin-dir'];
  if (command === 'backup') {
    const dir = args.values.dir ?? path.join(projectRoot(), 'backups');
    const result = await backupDatabase({ databaseUrl, dir, ...(binDir ? { binDir } : {}), log: say });
    process.stdout.write(`${result.file}\n`);
  } else {
    const file = args.positionals[0]!;
    const result = await restoreDatabase({ databaseUrl, file, force: args.values.force, ...(binDir ? { binDir } : {}), log: say });
    process.stdout.write(`${result.database}\n`);
  }
} catch (err) {
  await stopEmbedded?.().catch(() => undefined);
  stopEmbedded = undefined;
  if (err instanceof BackupError) fail(err.code, err.message);
  const e = err as { code?: unknown; message?: unknown };
  // A pg error (connection refused, permission denied): its SQLSTATE or errno, and its text, which never holds the URL.
  fail(typeof e.code === 'string' ? e.code : 'FAILED', String(e.message ?? err));
} finally {
  await stopEmbedded?.();
}
