import { describe, expect, it } from 'vitest';
import { register } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';
import { MaintenanceRepository, RETENTION_DAYS } from './maintenance.repository.js';

describe('MaintenanceRepository.purgeExpired', () => {
  const fx = useTestServer('maintenance');

  it('deletes what is past use and retention, and keeps everything still in play', async () => {
    const prisma = fx.server.infra.prisma;
    const t = await register(fx.server);
    const old = new Date(Date.now() - (RETENTION_DAYS + 1) * 86_400_000);
    const [oldDispatched, pending, recentDispatched] = await Promise.all([
      prisma.outboxMessage.create({ data: { kind: 'email', payload: {}, dispatchedAt: old } }),
      prisma.outboxMessage.create({ data: { kind: 'email', payload: {}, createdAt: old, availableAt: old } }),
      prisma.outboxMessage.create({ data: { kind: 'email', payload: {}, dispatchedAt: new Date() } }),
    ]);
    const sentLongAgo = await prisma.emailMessage.create({
      data: { template: 'verify-email', toAddress: 'a@example.com', status: 'SENT', idempotencyKey: `k-${t.user.id}-1`, updatedAt: old },
    });
    const queued = await prisma.emailMessage.create({
      data: { template: 'verify-email', toAddress: 'b@example.com', status: 'QUEUED', idempotencyKey: `k-${t.user.id}-2`, updatedAt: old },
    });
    // `updatedAt` is maintained by Prisma on write; put the old value back with SQL.
    await prisma.$executeRaw`UPDATE email_messages SET updated_at = ${old} WHERE id IN (${sentLongAgo.id}::uuid, ${queued.id}::uuid)`;

    const endpoint = await prisma.webhookEndpoint.create({ data: { url: 'https://example.com/hook', events: [], secretSealed: 'v2.x.y.z.w' } });
    const delivery = (status: 'PENDING' | 'SUCCEEDED' | 'FAILED', createdAt: Date) =>
      prisma.webhookDelivery.create({ data: { endpointId: endpoint.id, messageId: `msg_${status}`, eventType: 'user.created', body: '{}', status, createdAt } });
    const [oldDelivered, oldPending, recentDelivered] = await Promise.all([delivery('SUCCEEDED', old), delivery('PENDING', old), delivery('FAILED', new Date())]);

    const purged = await new MaintenanceRepository(prisma).purgeExpired(new Date());
    expect(purged.webhookDeliveries).toBe(1);
    const deliveriesLeft = new Set((await prisma.webhookDelivery.findMany({ select: { id: true } })).map((r) => r.id));
    expect([deliveriesLeft.has(oldDelivered.id), deliveriesLeft.has(oldPending.id), deliveriesLeft.has(recentDelivered.id)]).toEqual([false, true, true]);
    expect(purged.outbox).toBeGreaterThanOrEqual(1);
    expect(purged.emails).toBeGreaterThanOrEqual(1);
    const outboxLeft = new Set((await prisma.outboxMessage.findMany({ select: { id: true } })).map((r) => r.id));
    expect(outboxLeft.has(oldDispatched.id)).toBe(false);
    expect(outboxLeft.has(pending.id)).toBe(true); // never handed over: the relay still owes it
    expect(outboxLeft.has(recentDispatched.id)).toBe(true);
    const emailsLeft = new Set((await prisma.emailMessage.findMany({ select: { id: true } })).map((r) => r.id));
    expect(emailsLeft.has(sentLongAgo.id)).toBe(false);
    expect(emailsLeft.has(queued.id)).toBe(true); // still owed to its recipient
    // The live account and its session are untouched.
    expect(await prisma.session.count({ where: { userId: t.user.id } })).toBe(1);
  });
});
