import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningJwk } from './keys.js';

/**
 * Development only: the signing keys and master secret are generated once and kept under the data dir
 * (mode 0600), so tokens survive restarts. Production refuses to start without real ones (config.ts).
 * To rotate the development secret, pass the file's content as APP_SECRET_PREVIOUS and delete the file:
 * the next start writes a new one, and what the old one made still opens.
 */
export async function ensureDevSecrets(dataDir: string): Promise<{ jwtPrivateKeys: string; appSecret: string; created: string[] }> {
  const created: string[] = [];
  const keysFile = join(dataDir, 'keys', 'jwks.json');
  const secretFile = join(dataDir, 'app-secret');
  const jwtPrivateKeys = await readOrCreate(keysFile, async () => {
    created.push(keysFile);
    return JSON.stringify({ keys: [await generateSigningJwk()] }, null, 2);
  });
  const appSecret = await readOrCreate(secretFile, async () => {
    created.push(secretFile);
    return randomBytes(48).toString('base64url');
  });
  return { jwtPrivateKeys, appSecret: appSecret.trim(), created };
}

async function readOrCreate(file: string, make: () => Promise<string>): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const value = await make();
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  // Write aside, then link(2) into place: atomic and exclusive, so two processes starting together keep
  // one secret and neither can read a half-written file.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, value, { mode: 0o600 });
  try {
    await link(temp, file);
    return value;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFile(file, 'utf8');
    throw e;
  } finally {
    await unlink(temp);
  }
}
