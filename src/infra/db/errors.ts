/**
 * Reading Prisma 7 errors (driver-adapter flavour) without importing its classes, which may be loaded
 * twice in tests. Shapes observed here: P2002 (a model write) carries
 * `meta.driverAdapterError.cause.constraint.index`; a raw statement's collision is a P2010 whose
 * `meta.driverAdapterError.cause` has `kind: 'UniqueConstraintViolation'` (`originalCode: '23505'`) and the same `constraint`.
 * node-postgres's own errors (the statements sent through it directly, direct.ts) carry the SQLSTATE as
 * `code` and the constraint's name as `constraint`: read alike, as Prisma's adapter reads them.
 */
interface PrismaLikeError {
  code?: unknown;
  name?: unknown;
  constraint?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown; originalCode?: unknown; constraint?: { index?: unknown; fields?: unknown } } } };
  cause?: unknown;
}

/** The unique index a write (a model's, or a raw statement's) collided with (e.g. `users_email_key`), or undefined. */
export function uniqueViolation(err: unknown): string | undefined {
  const e = err as PrismaLikeError | undefined;
  // A bare pg error: SQLSTATE 23505 (Prisma's codes are P-numbered, so the two never meet). A unique
  // index's violation names the index, as Prisma's `constraint.index` does.
  if (e?.code === '23505') return typeof e.constraint === 'string' ? e.constraint : 'unknown';
  const cause = e?.meta?.driverAdapterError?.cause;
  const raw = e?.code === 'P2010' && (cause?.kind === 'UniqueConstraintViolation' || cause?.originalCode === '23505');
  if (e?.code !== 'P2002' && !raw) return undefined;
  const constraint = e.meta?.driverAdapterError?.cause?.constraint;
  if (typeof constraint?.index === 'string') return constraint.index;
  if (Array.isArray(constraint?.fields)) return constraint.fields.join(',');
  return 'unknown';
}

// Prisma's codes, socket errors, and SQLSTATEs. 28000 and 53300 are what Prisma's adapter turns into the
// kinds DatabaseAccessDenied and TooManyConnections below: a bare pg error (direct.ts) carries them as `code`.
const UNREACHABLE_CODES = new Set([
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND',
  '57P01', '57P03', '08006', '08001', '08003', '28000', '53300',
]);
const UNREACHABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'DatabaseAccessDenied']);
// pg's own words for a client whose connection broke earlier (a backend ended between two statements of a
// transaction: the next statement is refused by the client before it reaches the server).
const UNREACHABLE_TEXT =
  /Connection terminated|connect ECONNREFUSED|Can't reach database server|timeout exceeded when trying to connect|Connection closed|Client has encountered a connection error and is not queryable/i;

/** True when PostgreSQL did not answer (as opposed to refusing a query): callers answer SERVICE_UNAVAILABLE. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as PrismaLikeError | undefined, depth = 0; e && depth < 6; e = e.cause as PrismaLikeError | undefined, depth++) {
    if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
    if (e.name === 'PrismaClientInitializationError') return true;
    const cause = e.meta?.driverAdapterError?.cause;
    if (typeof cause?.kind === 'string' && UNREACHABLE_KINDS.has(cause.kind)) return true;
    // PostgreSQL's own SQLSTATE, as the driver adapter passes it on (Prisma's code is then a generic P2010
    // or P2039): 57P01 when a fast shutdown ends the backend, 57P03 while it stops or starts.
    if (typeof cause?.code === 'string' && UNREACHABLE_CODES.has(cause.code)) return true;
    // No pooled connection came free within the transaction's wait: the pool timeout (P2024) of a transaction.
    if (e.code === 'P2028' && e instanceof Error && /Unable to start a transaction/i.test(e.message)) return true;
    if (e instanceof Error && UNREACHABLE_TEXT.test(e.message)) return true;
  }
  return false;
}
