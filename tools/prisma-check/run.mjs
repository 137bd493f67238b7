#!/usr/bin/env node
// Compares prisma/schema.prisma with prisma/migrations through the Prisma 6.19.3 CLI's
// WebAssembly schema engine (the Prisma 7 CLI needs a native engine unreachable offline).
//   node tools/prisma-check/run.mjs check        exit 0 when they agree, 2 when they differ, 1 on error
//   node tools/prisma-check/run.mjs new <name>   write the next migration from the difference
// The engine replays the migrations into a scratch shadow database on DATABASE_URL's server
// (default postgres@127.0.0.1:5432) and drops it afterwards.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const migrationsDir = path.join(root, 'prisma/migrations');
const derivedSchema = path.join(here, '.tmp/schema.prisma');
const EMPTY_MARKER = '-- This is an empty migration.';

function ensureInstalled() {
  if (existsSync(path.join(here, 'node_modules/prisma/package.json'))) return;
  console.error('prisma-check: installing the Prisma 6 CLI (once)...');
  const res = spawnSync('npm', ['ci', '--prefix', here, '--no-audit', '--no-fund', '--loglevel=error'], {
    stdio: 'inherit',
  });
  if (res.status !== 0) throw new Error(`npm ci in ${path.relative(root, here)} failed`);
}

/** Server to host the shadow database: DATABASE_URL's, else the local trust-auth one. */
function connectionParams() {
  const raw = process.env.DATABASE_URL;
  if (!raw) return { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };
  const url = new URL(raw);
  return {
    host: decodeURIComponent(url.hostname) || '127.0.0.1',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || 'postgres',
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
  };
}

function prisma(args) {
  const conn = connectionParams();
  const auth = conn.password ? `:${encodeURIComponent(conn.password)}` : '';
  const env = {
    ...process.env,
    PRISMA_CHECK_PG: JSON.stringify(conn),
    // Only resolves env("DATABASE_URL") in the derived schema; connections go through the adapter.
    DATABASE_URL: `postgresql://${encodeURIComponent(conn.user)}${auth}@${conn.host}:${conn.port}/${encodeURIComponent(conn.database)}`,
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
  const cli = path.join(here, 'node_modules/prisma/build/index.js');
  const config = path.join(here, 'prisma.config.ts');
  return spawnSync(process.execPath, [cli, ...args, '--config', config], {
    cwd: root,
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

function diff(extra) {
  return prisma([
    'migrate', 'diff',
    '--from-migrations', migrationsDir,
    '--to-schema-datamodel', derivedSchema,
    '--script',
    ...extra,
  ]);
}

function fail(res) {
  process.stderr.write(res.stdout ?? '');
  process.stderr.write(res.stderr ?? '');
  if (res.error) console.error(res.error.message);
  process.exit(1);
}

function check() {
  const res = diff(['--exit-code']);
  if (res.status === 0) {
    console.log('prisma-check: prisma/schema.prisma and prisma/migrations agree.');
    return 0;
  }
  if (res.status !== 2) fail(res);
  console.error('prisma-check: prisma/schema.prisma differs from prisma/migrations. Missing SQL:\n');
  console.error(res.stdout.trim());
  console.error('\nWrite it as a migration with: npm run migrations:new -- <name>');
  return 2;
}

function timestamp(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

function create(name) {
  const slug = (name ?? '').toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 200);
  if (!slug) {
    console.error('usage: npm run migrations:new -- <name>');
    return 1;
  }
  const tmp = path.join(here, '.tmp/next.sql');
  rmSync(tmp, { force: true });
  const res = diff(['--output', tmp]);
  if (res.status !== 0) fail(res);
  const sql = readFileSync(tmp, 'utf8');
  if (sql.trim() === EMPTY_MARKER || sql.trim() === '') {
    console.log('prisma-check: no changes, no migration written.');
    return 0;
  }
  const dir = path.join(migrationsDir, `${timestamp()}_${slug}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'migration.sql'), sql);
  console.log(`prisma-check: wrote ${path.relative(root, dir)}/migration.sql; review it before committing.`);
  return 0;
}

ensureInstalled();
const [command, ...rest] = process.argv.slice(2);
if (command === 'check') process.exit(check());
else if (command === 'new') process.exit(create(rest[0]));
else {
  console.error('usage: run.mjs check | run.mjs new <name>');
  process.exit(1);
}
