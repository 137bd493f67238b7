import path from 'node:path';
import { ConfigError, loadConfig } from './infra/config.js';
import { ensureDevSecrets } from './infra/crypto/dev-secrets.js';
import { AppSecrets } from './infra/crypto/secrets.js';
import { createPrismaClient } from './infra/db/index.js';
import { describeBreak } from './modules/audit/audit-chain.js';
import { AuditSealsRepository } from './modules/audit/audit-seals.repository.js';
import { verifyAuditChain } from './modules/audit/audit-verify.js';

/**
 * `npm run audit:verify`: checks the audit log's hash chain, from its oldest remaining seal to its newest,
 * against the database `npm start` uses (DATABASE_URL, or the embedded PostgreSQL under DATA_DIR) and the
 * keys of APP_SECRET and APP_SECRET_PREVIOUS. Prints what it checked; the first broken link, if any, on
 * stderr. Exit codes: 0 intact, 1 broken (or entries left unsealed), 2 configuration or connection problem.
 */
const say = (line: string) => void process.stdout.write(`${line}\n`);
const fail = (line: string, code: number): never => {
  process.stderr.write(`latchkey audit:verify: ${line}\n`);
  process.exit(code);
};

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) fail(`CONFIG: ${err.message}`, 2);
  throw err;
}

const appSecret = config.secrets.appSecret ?? (await ensureDevSecrets(path.resolve(config.dataDir))).appSecret;
let databaseUrl = config.db.url;
let stopEmbedded: (() => Promise<void>) | undefined;
let exitCode = 0;
try {
  if (!databaseUrl) {
    const { startEmbeddedPostgres } = await import('./infra/db/embedded.js');
    const embedded = await startEmbeddedPostgres(path.join(path.resolve(config.dataDir), 'postgres'), { info: () => undefined });
    stopEmbedded = embedded.stop;
    databaseUrl = embedded.url;
  }
  const prisma = createPrismaClient(databaseUrl);
  try {
    const report = await verifyAuditChain(new AuditSealsRepository(prisma), new AppSecrets(appSecret, config.secrets.appSecretPrevious).ring('audit-seal'));
    if (report.firstSeq === null && !report.broken) say('audit chain: no seals yet');
    else say(`audit chain: ${report.checked} seal(s) checked, #${report.firstSeq ?? '?'} to #${report.lastSeq ?? '?'}${report.firstSeq !== null && report.firstSeq > 1n ? ' (older ones removed by retention)' : ''}`);
    if (report.broken) {
      process.stderr.write(`latchkey audit:verify: BROKEN: ${describeBreak(report.broken)}\n`);
      exitCode = 1;
    }
    if (report.unsealed > 0) {
      process.stderr.write(`latchkey audit:verify: UNSEALED: ${report.unsealed} entr${report.unsealed === 1 ? 'y is' : 'ies are'} older than 5 minutes and in no seal\n`);
      exitCode = 1;
    }
    if (exitCode === 0) say('audit chain: intact');
  } finally {
    await prisma.$disconnect();
  }
} catch (err) {
  const e = err as { code?: unknown; message?: unknown };
  exitCode = 2;
  process.stderr.write(`latchkey audit:verify: ${typeof e.code === 'string' ? e.code : 'FAILED'}: ${String(e.message ?? err)}\n`);
} finally {
  await stopEmbedded?.();
}
process.exit(exitCode);
