import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, codeOf, login, me, newIdentity, refresh, register, type Tokens } from '../../test/auth-client.js';
import { clearRedisPrefix, gql, useTestServers } from '../../test/harness.js';
import { backupDatabase } from './backup.js';
import { projectRoot } from './migrate.js';
import { BackupError } from './pg-tools.js';

/** Runs `npm run <script> -- ...args` as an operator would, against the test's database. */
async function npmRun(script: string, args: string[], env: Record<string, string>) {
  const child = spawn('npm', ['run', '--silent', script, '--', ...args], {
    cwd: projectRoot(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  // A failure's last stderr line is `latchkey <command>: <CODE>: <why>`.
  const errorCode = /^latchkey \w+: ([A-Z0-9_]+): /m.exec(stderr.trim().split('\n').at(-1) ?? '')?.[1];
  return { code, stdout: stdout.trim(), stderr, errorCode };
}

async function scalar<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ v: T }>(sql)).rows[0]!.v;
  } finally {
    await client.end();
  }
}

const sessionIdOf = (accessToken: string) =>
  (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as { sid: string }).sid;

/** A folder of stand-ins that answer `--version` as an old release and do nothing else. */
async function fakeTools(root: string): Promise<string> {
  const dir = path.join(root, 'pg9-bin');
  await mkdir(dir, { recursive: true });
  for (const prog of ['pg_dump', 'pg_restore']) {
    await writeFile(path.join(dir, prog), `#!/bin/sh\necho '${prog} (PostgreSQL) 9.6.24'\n`);
    await chmod(path.join(dir, prog), 0o755);
  }
  return dir;
}

describe('npm run backup / npm run restore', () => {
  const fx = useTestServers('backup');
  let work: string;
  let dump: string;
  let alice: Tokens & { password: string; username: string };
  let bob: Tokens & { password: string; username: string };
  /** Alice's sessions: `kept` and `spare` live, `revoked` revoked before the backup. */
  const sessions = {} as Record<'kept' | 'spare' | 'revoked', Tokens>;
  const env = () => ({ DATABASE_URL: fx.db.url });

  beforeAll(async () => {
    work = await fx.tempDir('backup');
    const server = await fx.start();
    const aliceId = newIdentity('alice');
    alice = { ...(await register(server, aliceId)), username: aliceId.username };
    const bobId = newIdentity('bob');
    bob = { ...(await register(server, bobId)), username: bobId.username };
    sessions.kept = alice;
    for (const name of ['spare', 'revoked'] as const) {
      const res = await login(server, alice.username, alice.password);
      expect(res.body.data?.login.__typename).toBe('AuthPayload');
      sessions[name] = res.body.data!.login;
    }
    const revoked = await gql<{ revokeSession: boolean }>(
      server,
      'mutation ($id: ID!) { revokeSession(id: $id) }',
      { id: sessionIdOf(sessions.revoked.accessToken) },
      bearer(alice.accessToken),
    );
    expect(revoked.body.data?.revokeSession).toBe(true);
    expect(codeOf((await me(server, sessions.revoked.accessToken)).body)).toBe('UNAUTHENTICATED');

    // Online: the server keeps running while the dump is taken.
    const backup = await npmRun('backup', ['--dir', path.join(work, 'backups')], env());
    expect(backup.code, backup.stderr).toBe(0);
    dump = backup.stdout;
    await server.close();
  });

  it('writes a custom-format dump named by UTC time, its checksum beside it, readable by its owner only', async () => {
    expect(path.basename(dump)).toMatch(/^latchkey-\d{8}T\d{6}Z\.dump$/);
    expect(await readdir(path.dirname(dump))).toEqual([path.basename(dump), `${path.basename(dump)}.sha256`]);
    expect((await readFile(dump)).subarray(0, 5).toString()).toBe('PGDMP');
    expect(await readFile(`${dump}.sha256`, 'utf8')).toMatch(new RegExp(`^[0-9a-f]{64}  ${path.basename(dump)}\\n$`));
    expect((await stat(dump)).mode & 0o077).toBe(0);
  });

  it('the drill: drop the database, restore it, and sign-ins, refresh tokens and revocations are as they were', async () => {
    await fx.db.drop();
    await expect(scalar(fx.db.url, 'SELECT 1 AS v')).rejects.toMatchObject({ code: '3D000' });

    const restore = await npmRun('restore', [dump], env());
    expect(restore.code, restore.stderr).toBe(0);

    // With Redis as it was, then with the test's Redis keys gone: what PostgreSQL alone guarantees.
    for (const [round, token] of [['redis kept', sessions.kept], ['redis flushed', sessions.spare]] as const) {
      if (round === 'redis flushed') await clearRedisPrefix(fx.prefix);
      const server = await fx.start();
      const signIn = await login(server, alice.username, alice.password);
      expect(signIn.body.data?.login.__typename, round).toBe('AuthPayload');
      expect((await login(server, bob.username, bob.password)).body.data?.login.__typename, round).toBe('AuthPayload');

      const refreshed = await refresh(server, token.refreshToken);
      expect(refreshed.body.errors, round).toBeUndefined();
      expect((await me(server, refreshed.body.data!.refresh.accessToken)).body.data?.me.id, round).toBe(alice.user.id);

      expect(codeOf((await me(server, sessions.revoked.accessToken)).body), round).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(server, sessions.revoked.refreshToken)).body), round).toBe('UNAUTHENTICATED');
      await server.close();
    }
  });

  it('refuses to restore over a database that holds data, and replaces it with --force', async () => {
    const usersAtBackup = 2;
    await scalar(fx.db.url, `INSERT INTO users (username, email, password_hash, updated_at) VALUES ('carol', 'carol@example.com', 'x', now()) RETURNING 1 AS v`);

    const refused = await npmRun('restore', [dump], env());
    expect(refused.code).toBe(1);
    expect(refused.errorCode).toBe('NOT_EMPTY');
    expect(await scalar(fx.db.url, 'SELECT count(*)::int AS v FROM users')).toBe(usersAtBackup + 1);

    const forced = await npmRun('restore', [dump, '--force'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(await scalar(fx.db.url, 'SELECT count(*)::int AS v FROM users')).toBe(usersAtBackup);
    expect(await scalar(fx.db.url, `SELECT count(*)::int AS v FROM sessions WHERE revoked_at IS NOT NULL`)).toBe(1);
  });

  it('refuses a dump that no longer matches its checksum, and changes nothing', async () => {
    const damaged = path.join(work, 'damaged.dump');
    const bytes = await readFile(dump);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    await writeFile(damaged, bytes);
    await copyFile(`${dump}.sha256`, `${damaged}.sha256`);
    await scalar(fx.db.url, `INSERT INTO users (username, email, password_hash, updated_at) VALUES ('dora', 'dora@example.com', 'x', now()) RETURNING 1 AS v`);

    const refused = await npmRun('restore', [damaged, '--force'], env());
    expect(refused.code).toBe(1);
    expect(refused.errorCode).toBe('CHECKSUM_MISMATCH');
    expect(await scalar(fx.db.url, `SELECT count(*)::int AS v FROM users WHERE username = 'dora'`)).toBe(1);
  });

  it('never replaces an existing backup', async () => {
    const dir = path.join(work, 'same-second');
    const now = new Date('2026-11-29T23:15:00Z');
    const first = await backupDatabase({ databaseUrl: fx.db.url, dir, now });
    const again = await backupDatabase({ databaseUrl: fx.db.url, dir, now }).catch((err: unknown) => err);
    expect(again).toBeInstanceOf(BackupError);
    expect((again as BackupError).code).toBe('FILE_EXISTS');
    expect((await readdir(dir)).sort()).toEqual([path.basename(first.file), `${path.basename(first.file)}.sha256`]);
    expect(await readFile(`${first.file}.sha256`, 'utf8')).toContain(first.sha256);
  });

  it('refuses a dump from a newer PostgreSQL than the server before touching the database', async () => {
    const dir = path.join(work, 'pg99-bin');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'pg_dump'), `#!/bin/sh\necho 'pg_dump (PostgreSQL) 99.0'\n`);
    await writeFile(path.join(dir, 'pg_restore'), `#!/bin/sh\nprintf ';\\n;     Dumped from database version: 99.0\\n;     Dumped by pg_dump version: 99.0\\n'\n`);
    for (const prog of ['pg_dump', 'pg_restore']) await chmod(path.join(dir, prog), 0o755);
    const users = await scalar<number>(fx.db.url, 'SELECT count(*)::int AS v FROM users');

    const refused = await npmRun('restore', [dump, '--force', '--bin-dir', dir], env());
    expect(refused.errorCode, refused.stderr).toBe('OLDER_SERVER');
    expect(await scalar(fx.db.url, 'SELECT count(*)::int AS v FROM users')).toBe(users);
  });

  it('says which version it needs when no pg_dump suits the server, and leaves no file', async () => {
    const out = path.join(work, 'none');
    const result = await npmRun('backup', ['--dir', out, '--bin-dir', await fakeTools(work)], env());
    expect(result.code).toBe(1);
    expect(result.errorCode).toBe('NO_MATCHING_TOOL');
    expect(existsSync(out) ? await readdir(out) : []).toEqual([]);
  });

  it('backs up the embedded PostgreSQL when DATABASE_URL is unset, and stops it afterwards', async () => {
    const dataDir = path.join(work, 'data');
    await mkdir(dataDir, { recursive: true });
    // mkdtemp made `work` 0700, and PostgreSQL runs as `postgres` when the tests run as root.
    await chmod(work, 0o755);
    // The stand-ins suit no server, so this stops at the tool check, after the embedded cluster answered.
    const result = await npmRun('backup', ['--dir', path.join(work, 'embedded-backups'), '--bin-dir', await fakeTools(work)], {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
    });
    expect(result.errorCode, result.stderr).toBe('NO_MATCHING_TOOL');
    expect(existsSync(path.join(dataDir, 'postgres', 'pgdata', 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'postgres', 'pgdata', 'postmaster.pid'))).toBe(false);
  }, 120_000);
});
