import type { Tx } from '../../core/tx.js';
import { transaction, type PrismaClient } from '../../infra/db/index.js';

/** The alerts' own database access: a transaction for an alert's audit entry and whatever commits with it. */
export class AlertsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.prisma, fn);
  }
}
