// The one import point for database code: nothing else imports src/generated directly.
// embedded.ts is left out on purpose: main.ts imports it only when DATABASE_URL is unset.
export { PrismaClient, Prisma } from '../../generated/prisma/client.js';
export type {
  User,
  Session,
  RefreshToken,
  OneTimeToken,
  SecurityEvent,
  OutboxMessage,
  EmailMessage,
} from '../../generated/prisma/client.js';
export { OneTimeTokenPurpose, SecurityEventType, EmailStatus, Role, AuditOutcome } from './enums.js';
export { createPrismaClient, type PrismaClientOptions } from './prisma.js';
export { applyMigrations, readMigrations, defaultMigrationsDir, projectRoot, type DbLog } from './migrate.js';
export { clientOf, transaction, pingPostgres } from './tx.js';
export { queryRows, execute } from './direct.js';
export { statementPart, sqlOf, withParts, insertRows, prepared, type Column } from './statement.js';
