import type { RequestMeta } from '../../core/request.js';
import { clientOf, transaction, type PrismaClient } from '../../infra/db/index.js';
import { recordAudit } from '../audit/audit.repository.js';

/** A service key as operators see it: never its secret, nor the secret's hash. */
export interface ServiceKeyRecord {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** What authenticating a key needs of its row. */
export interface ServiceKeyCredential {
  secretHash: Uint8Array;
  revokedAt: Date | null;
}

const PUBLIC = { id: true, name: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

/** Service keys; each change is audited in its own transaction (`service_key.created`, `service_key.revoked`). */
export class ServiceKeysRepository {
  constructor(private readonly prisma: PrismaClient) {}

  create(name: string, secretHash: Uint8Array<ArrayBuffer>, actorId: string, meta: RequestMeta): Promise<ServiceKeyRecord> {
    return transaction(this.prisma, async (tx) => {
      const key = await clientOf(tx).serviceKey.create({ data: { name, secretHash, createdById: actorId }, select: PUBLIC });
      await recordAudit(tx, meta, [{ action: 'service_key.created', outcome: 'SUCCESS', actorId, targetUserId: null, details: { keyId: key.id, name } }]);
      return key;
    });
  }

  /** Newest first, revoked ones included (operators see what was revoked and when). */
  list(): Promise<ServiceKeyRecord[]> {
    return this.prisma.serviceKey.findMany({ select: PUBLIC, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
  }

  /** Revokes a live key; false when there is no such key or it was revoked already (nothing audited then). */
  revoke(id: string, actorId: string, meta: RequestMeta): Promise<boolean> {
    return transaction(this.prisma, async (tx) => {
      const { count } = await clientOf(tx).serviceKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) return false;
      await recordAudit(tx, meta, [{ action: 'service_key.revoked', outcome: 'SUCCESS', actorId, targetUserId: null, details: { keyId: id } }]);
      return true;
    });
  }

  /** The key's credential, noting that it was used; null for an unknown id. */
  async credential(id: string): Promise<ServiceKeyCredential | null> {
    const rows = await this.prisma.serviceKey.updateManyAndReturn({
      where: { id },
      data: { lastUsedAt: new Date() },
      select: { secretHash: true, revokedAt: true },
    });
    return rows[0] ?? null;
  }
}
