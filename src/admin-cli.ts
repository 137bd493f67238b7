import type { Role } from './core/request.js';
import { ConfigError, loadConfig, type Config } from './infra/config.js';
import { isAppError } from './infra/errors.js';
import type { Infra } from './infra/runtime.js';

/**
 * `npm run admin -- grant <email> <ROLE>`: sets an account's role from the command line, against the
 * database `npm start` uses (DATABASE_URL, or the embedded PostgreSQL under DATA_DIR, shared with a running
 * instance) and its Redis (the change reaches every session at once). The same rules and audit entry as
 * `setUserRole` (no actor; `details.via` is `cli`). stdout gets the outcome; a failure ends with
 * `latchkey admin: <CODE>: <why>` on stderr. Exit codes: 0 done, 1 failed, 2 usage.
 */
const USAGE = 'usage: npm run admin -- grant <email> <USER|SUPPORT|ADMIN>';
const ROLES: readonly Role[] = ['USER', 'SUPPORT', 'ADMIN'];

function fail(code: string, message: string, exitCode = 1): never {
  process.stderr.write(`latchkey admin: ${code}: ${message}\n`);
  process.exit(exitCode);
}

const [command, email, roleArg, ...extra] = process.argv.slice(2);
if (command === '--help' || command === '-h') {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (command !== 'grant' || email === undefined || roleArg === undefined || extra.length > 0) fail('USAGE', USAGE, 2);
const role = ROLES.find((r) => r === roleArg.toUpperCase());
if (!role) fail('UNKNOWN_ROLE', `"${roleArg}" is not a role; use one of ${ROLES.join(', ')}`, 2);

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) fail('CONFIG', err.message);
  throw err;
}

// Progress and warnings as JSON lines on stderr; stdout carries the outcome alone.
// The whole wiring loads only now: a usage error answers at once.
await import('reflect-metadata');
const { createLogger } = await import('./infra/logger.js');
const { startInfra } = await import('./infra/runtime.js');
const { buildServices } = await import('./composition.js');
const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr, base: { role: 'admin-cli' } });
let infra: Infra | undefined;
let outcome: { out: string } | { code: string; message: string };
try {
  // No migration here: the service's own start applies them (an unmigrated database fails below, clearly).
  infra = await startInfra(config, log, { migrate: false });
  const granted = await buildServices(infra).lifecycle.grant(email, role);
  if (!granted) outcome = { code: 'UNKNOWN_EMAIL', message: `no account has the email ${email}` };
  else outcome = { out: granted.changed ? `${email}: ${role} (was ${granted.from})` : `${email}: already ${role}` };
} catch (err) {
  outcome = isAppError(err) ? { code: err.code, message: err.message } : { code: 'FAILED', message: err instanceof Error ? err.message : String(err) };
} finally {
  // Before any exit: an embedded PostgreSQL this command started must stop with it.
  await infra?.close().catch(() => undefined);
}
if ('code' in outcome) fail(outcome.code, outcome.message);
process.stdout.write(`${outcome.out}\n`);
process.exit(0);
