import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import type { Tx } from '../../core/tx.js';

/** The Prisma transaction behind a handle: repositories only (lint keeps Prisma out of everything else). */
export const clientOf = (tx: Tx): Prisma.TransactionClient => tx as unknown as Prisma.TransactionClient;

/** Prisma's interactive transaction, handed to `fn` as an opaque handle. */
export function transaction<T>(prisma: PrismaClient, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return prisma.$transaction(fn as unknown as (tx: Prisma.TransactionClient) => Promise<T>);
}

/** Readiness: PostgreSQL answers a trivial query. */
export const pingPostgres = (prisma: PrismaClient): Promise<unknown> => prisma.$queryRaw`SELECT 1`;
