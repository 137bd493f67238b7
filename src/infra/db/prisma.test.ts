import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServers } from '../../test/harness.js';
import { createPrismaClient, SecurityEventType, type PrismaClient } from './index.js';

describe('createPrismaClient', () => {
  const fx = useTestServers('prisma');
  let prisma: PrismaClient;
  beforeAll(() => {
    prisma = createPrismaClient(fx.db.url, { poolMax: 2 });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it('finds a user by email and username whatever their case (citext)', async () => {
    const user = await prisma.user.create({
      data: { username: 'Carol', email: 'Carol@Example.com', passwordHash: 'h' },
    });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await prisma.user.findUnique({ where: { email: 'carol@example.COM' } }))?.id).toBe(user.id);
    expect((await prisma.user.findUnique({ where: { username: 'CAROL' } }))?.id).toBe(user.id);
    await expect(
      prisma.user.create({ data: { username: 'carol', email: 'other@example.com', passwordHash: 'h' } }),
    ).rejects.toMatchObject({ code: 'P2002' });
  });

  it('round-trips bytes, JSON and enums, and cascades deletes', async () => {
    const user = await prisma.user.create({ data: { username: 'dave', email: 'dave@example.com', passwordHash: 'h' } });
    const hash = Buffer.alloc(32, 7);
    const session = await prisma.session.create({
      data: { userId: user.id, expiresAt: new Date(Date.now() + 60_000), idleExpiresAt: new Date(Date.now() + 30_000) },
    });
    await prisma.refreshToken.create({ data: { sessionId: session.id, tokenHash: hash, expiresAt: new Date(Date.now() + 60_000) } });
    await prisma.securityEvent.create({
      data: { userId: user.id, type: SecurityEventType.SIGNED_IN, sessionId: session.id, data: { via: 'password' } },
    });

    const token = await prisma.refreshToken.findUnique({ where: { tokenHash: hash } });
    expect(Buffer.from(token!.tokenHash).equals(hash)).toBe(true);
    const [event] = await prisma.securityEvent.findMany({ where: { userId: user.id } });
    expect(event).toMatchObject({ type: 'SIGNED_IN', data: { via: 'password' } });

    await prisma.user.delete({ where: { id: user.id } });
    expect(await prisma.refreshToken.count({ where: { sessionId: session.id } })).toBe(0);
    expect(await prisma.securityEvent.count({ where: { userId: user.id } })).toBe(0);
  });

  it('logs statements without their parameters when asked', async () => {
    const lines: Array<{ obj: object; msg?: string }> = [];
    const logged = createPrismaClient(fx.db.url, { logQueries: true, log: { info: (obj, msg) => void lines.push({ obj, msg }) } });
    try {
      await logged.user.findUnique({ where: { email: 'secret-probe@example.com' } });
    } finally {
      await logged.$disconnect();
    }
    const queries = lines.filter((l) => l.msg === 'db query').map((l) => (l.obj as { query?: string }).query);
    expect(queries.some((q) => q?.includes('FROM "public"."users"'))).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('secret-probe');
  });
});
