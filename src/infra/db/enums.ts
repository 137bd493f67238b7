// The database's enums as plain objects, importable anywhere (the GraphQL enums are these same objects):
// no client, no connection, nothing that reaches PostgreSQL.
export { OneTimeTokenPurpose, SecurityEventType, EmailStatus, Role, AuditOutcome } from '../../generated/prisma/enums.js';
