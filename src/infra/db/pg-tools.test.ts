import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utcStamp } from './backup.js';
import { BackupError, findPgTools, libpqConnection, pickDumpTool, restoreToolOrder, type PgClientTools } from './pg-tools.js';

const tool = (major: number): PgClientTools => ({ dir: `/pg/${major}/bin`, major, version: `${major}.1`, pgDump: `/pg/${major}/bin/pg_dump`, pgRestore: `/pg/${major}/bin/pg_restore` });
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof BackupError ? err.code : 'not a BackupError';
  }
  return undefined;
};

describe('choosing pg_dump and pg_restore for a server', () => {
  it('takes the pg_dump of the server’s own major version, else the nearest newer one, never an older one', () => {
    expect(pickDumpTool([tool(15), tool(16), tool(17)], 16).major).toBe(16);
    expect(pickDumpTool([tool(18), tool(15), tool(17)], 16).major).toBe(17);
    expect(codeOf(() => pickDumpTool([tool(15), tool(17)], 18))).toBe('NO_MATCHING_TOOL');
    expect(codeOf(() => pickDumpTool([], 15))).toBe('NO_MATCHING_TOOL');
  });

  it('tries pg_restore of the server’s version first, then newer ones, then older ones', () => {
    expect(restoreToolOrder([tool(14), tool(18), tool(15), tool(17), tool(13)], 15).map((t) => t.major)).toEqual([15, 17, 18, 14, 13]);
  });

  it('finds installations by running them, once each', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'latchkey-pgtools-'));
    try {
      const dirs = [];
      for (const [name, printed] of [['a', 'pg_dump (PostgreSQL) 16.4'], ['b', 'pg_dump (PostgreSQL) 16.4'], ['c', 'pg_dump (PostgreSQL) 9.6.24'], ['d', '']]) {
        const dir = path.join(root, name!);
        dirs.push(dir);
        await mkdir(dir);
        for (const prog of name === 'd' ? ['pg_dump'] : ['pg_dump', 'pg_restore']) {
          await writeFile(path.join(dir, prog), `#!/bin/sh\necho '${printed}'\n`);
          await chmod(path.join(dir, prog), 0o755);
        }
      }
      const found = await findPgTools([...dirs, path.join(root, 'missing')]);
      expect(found.map((t) => [path.basename(t.dir), t.major, t.version])).toEqual([['a', 16, '16.4'], ['c', 9, '9.6.24']]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('libpqConnection', () => {
  const saved = process.env.PGPASSWORD;
  afterAll(() => {
    if (saved === undefined) delete process.env.PGPASSWORD;
    else process.env.PGPASSWORD = saved;
  });

  it('keeps the password off the command line and drops parameters libpq would refuse', () => {
    const c = libpqConnection('postgresql://app:s%3Acret%40x@db.internal:6543/latchkey?sslmode=require&schema=public&connection_limit=5');
    expect(c.url).toBe('postgresql://app@db.internal:6543/latchkey?sslmode=require');
    expect(c.env.PGPASSWORD).toBe('s:cret@x');
    expect(c.database).toBe('latchkey');
  });

  it('leaves the environment’s PGPASSWORD to a URL without a password, as node-postgres does for the service', () => {
    process.env.PGPASSWORD = 'from-the-shell';
    expect(libpqConnection('postgres://postgres@127.0.0.1/x').env.PGPASSWORD).toBe('from-the-shell');
    expect(libpqConnection('postgres://postgres:inline@127.0.0.1/x').env.PGPASSWORD).toBe('inline');
  });

  it('refuses what is not a postgres URL', () => {
    expect(codeOf(() => libpqConnection('mysql://x@y/z'))).toBe('BAD_DATABASE_URL');
    expect(codeOf(() => libpqConnection('not a url'))).toBe('BAD_DATABASE_URL');
  });
});

it('names backups by UTC time to the second', () => {
  expect(utcStamp(new Date('2026-11-29T23:15:00.123Z'))).toBe('20261129T231500Z');
});
