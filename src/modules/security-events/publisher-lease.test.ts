import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newIdentity, register } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { subscribe } from '../../test/subscriber.js';
import { eventually } from '../../test/tcp-proxy.js';
import { SecurityEventsRepository } from './security-events.repository.js';

/**
 * The publisher leases rows (one statement), publishes with no transaction open, then marks them:
 * a crashed publisher's rows come back when its lease runs out, and live publishers never share a row.
 */
describe('security event publisher leases', () => {
  const fx = useTestServers('event-lease');
  let a: TestServer; // two instances sharing PostgreSQL and Redis: two publishers
  let b: TestServer;
  const opened: { dispose(): void }[] = [];

  beforeAll(async () => {
    a = await fx.start();
    b = await fx.start();
  });
  afterAll(() => {
    for (const s of opened) s.dispose();
  });

  const watch = async (server: TestServer, token: string) => {
    const s = await subscribe(server.wsUrl, token);
    opened.push(s);
    return s;
  };
  const signedIn = (userId: string) => a.infra.prisma.securityEvent.findMany({ where: { userId, type: 'SIGNED_IN' }, orderBy: { occurredAt: 'asc' } });

  it('delivers the rows of a publisher that died after leasing them, once its lease runs out', async () => {
    const id = newIdentity('crashed');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    await a.services.publisher.stop();
    await b.services.publisher.stop();
    await login(a, id.username, id.password); // event A: committed, not yet published
    const [eventA] = (await signedIn(t.user.id)).filter((e) => e.publishedAt === null);
    expect(eventA).toBeDefined();
    // A publisher leases the row and dies before publishing it.
    const crashed = await new SecurityEventsRepository(a.infra.prisma).lease(200, 600);
    expect(crashed.events.map((e) => e.id)).toContain(eventA!.id);

    // The live publishers skip the leased row: event B, after it, arrives; A does not.
    await a.services.publisher.start();
    await b.services.publisher.start();
    await login(b, id.username, id.password);
    const rows = await signedIn(t.user.id);
    const eventB = rows.at(-1)!;
    await sub.next((e) => e.id === eventB.id, 5_000);
    expect(sub.events.some((e) => e.id === eventA!.id)).toBe(false);
    expect((await a.infra.prisma.securityEvent.findUniqueOrThrow({ where: { id: eventA!.id } })).publishedAt).toBeNull();

    // The clock passes the dead publisher's lease: the next sweep takes the row and delivers it.
    await a.infra.prisma.$executeRaw`UPDATE security_events SET publish_leased_until = now() - interval '1 second' WHERE id = ${eventA!.id}::uuid`;
    await sub.next((e) => e.id === eventA!.id, 10_000);
    const published = await eventually(
      () => a.infra.prisma.securityEvent.findUniqueOrThrow({ where: { id: eventA!.id } }),
      (row) => row.publishedAt !== null,
    );
    expect(published.publishLeasedUntil).toBeNull();
    expect(sub.events.filter((e) => e.id === eventA!.id)).toHaveLength(1);
  });

  it('never has two publishers deliver one row twice', async () => {
    const id = newIdentity('burst');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    const before = new Set((await signedIn(t.user.id)).map((e) => e.id));
    // A burst of commits on both instances: each wakes both publishers (NOTIFY), which race for the rows.
    const logins = await Promise.all(Array.from({ length: 40 }, (_, i) => login(i % 2 === 0 ? a : b, id.username, id.password)));
    for (const res of logins) expect(res.body.errors).toBeUndefined();
    const fresh = (await signedIn(t.user.id)).filter((e) => !before.has(e.id));
    expect(fresh).toHaveLength(40);
    for (const e of fresh) await sub.next((got) => got.id === e.id, 10_000);
    // A marker after the burst: anything still in flight from it has arrived once the marker has.
    await login(b, id.username, id.password);
    const marker = (await signedIn(t.user.id)).at(-1)!;
    await sub.next((e) => e.id === marker.id, 10_000);
    const counts = new Map<string, number>();
    for (const e of sub.events) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('leases disjoint batches to concurrent publishers, and a released lease is offered again at once', async () => {
    const t = await register(a);
    await a.services.publisher.stop();
    await b.services.publisher.stop();
    try {
      const data = Array.from({ length: 60 }, (_, i) => ({ userId: t.user.id, actorId: t.user.id, type: 'SIGNED_IN' as const, occurredAt: new Date(Date.now() - 60_000 + i) }));
      await a.infra.prisma.securityEvent.createMany({ data });
      const mine = new Set((await a.infra.prisma.securityEvent.findMany({ where: { userId: t.user.id, publishedAt: null }, select: { id: true } })).map((e) => e.id));
      const one = new SecurityEventsRepository(a.infra.prisma);
      const two = new SecurityEventsRepository(b.infra.prisma);
      const taken: string[] = [];
      for (;;) {
        const [x, y] = await Promise.all([one.lease(7, 600), two.lease(7, 600)]);
        const ids = [...x.events, ...y.events].map((e) => e.id);
        if (ids.length === 0) break;
        taken.push(...ids);
      }
      const ofUser = taken.filter((id) => mine.has(id));
      expect(new Set(taken).size).toBe(taken.length);
      expect(new Set(ofUser)).toEqual(mine);

      // A failed publish gives its lease back: the rows are offered again without waiting for it to run out.
      const again = await one.lease(1, 600);
      expect(again.events).toHaveLength(0);
      const leasedUntil = (await a.infra.prisma.securityEvent.findUniqueOrThrow({ where: { id: ofUser[0]! } })).publishLeasedUntil!;
      await one.release([ofUser[0]!], leasedUntil);
      expect((await two.lease(5, 600)).events.map((e) => e.id)).toEqual([ofUser[0]]);
      await one.markPublished(taken);
    } finally {
      await a.services.publisher.start();
      await b.services.publisher.start();
    }
  });

  it('marks the previous batch published in the statement that leases the next, never leasing what it marks', async () => {
    const t = await register(a);
    await a.services.publisher.stop();
    await b.services.publisher.stop();
    try {
      const data = Array.from({ length: 10 }, (_, i) => ({ userId: t.user.id, actorId: t.user.id, type: 'SIGNED_IN' as const, occurredAt: new Date(Date.now() - 120_000 + i) }));
      await a.infra.prisma.securityEvent.createMany({ data });
      const repo = new SecurityEventsRepository(a.infra.prisma);
      const rowsOf = async (ids: string[]) => a.infra.prisma.securityEvent.findMany({ where: { id: { in: ids } }, select: { publishedAt: true, publishLeasedUntil: true } });
      // Oldest first, so these ten (two minutes old) come before anything else unpublished of other tests.
      const first = (await repo.lease(4, 600)).events.map((e) => e.id);
      expect(first).toHaveLength(4);
      const second = (await repo.lease(4, 600, first)).events.map((e) => e.id);
      expect(second).toHaveLength(4);
      expect(second.filter((id) => first.includes(id))).toEqual([]);
      for (const row of await rowsOf(first)) expect(row).toMatchObject({ publishedAt: expect.any(Date) as unknown, publishLeasedUntil: null });
      for (const row of await rowsOf(second)) expect(row).toMatchObject({ publishedAt: null, publishLeasedUntil: expect.any(Date) as unknown });
      // A lease whose marked rows had run out of their lease still does not take them again.
      await a.infra.prisma.$executeRaw`UPDATE security_events SET publish_leased_until = now() - interval '1 second' WHERE id = ANY(${second}::uuid[])`;
      const third = (await repo.lease(200, 600, second)).events.map((e) => e.id);
      expect(third.filter((id) => second.includes(id))).toEqual([]);
      for (const row of await rowsOf(second)) expect(row.publishedAt).not.toBeNull();
      await repo.markPublished(third);
    } finally {
      await a.services.publisher.start();
      await b.services.publisher.start();
    }
  });

  it('marks what it published last when it stops, and soon after on its own while running', async () => {
    const id = newIdentity('marked');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    await b.services.publisher.stop(); // one publisher: it is the one this test stops
    try {
      await login(a, id.username, id.password);
      const event = (await signedIn(t.user.id)).at(-1)!;
      await sub.next((e) => e.id === event.id, 5_000);
      await a.services.publisher.stop();
      const row = await a.infra.prisma.securityEvent.findUniqueOrThrow({ where: { id: event.id } });
      expect(row.publishedAt).not.toBeNull();
      expect(row.publishLeasedUntil).toBeNull();
      await a.services.publisher.start();
      // Running, with no commit after it: the sweep (every second) marks the event.
      await login(a, id.username, id.password);
      const next = (await signedIn(t.user.id)).at(-1)!;
      await sub.next((e) => e.id === next.id, 5_000);
      await eventually(() => a.infra.prisma.securityEvent.findUniqueOrThrow({ where: { id: next.id } }), (r) => r.publishedAt !== null && r.publishLeasedUntil === null, 3_000);
    } finally {
      await a.services.publisher.start();
      await b.services.publisher.start();
    }
  });

  it('publishes a steady stream of events in passes about 100 ms apart, adding at most ~100 ms to each', async () => {
    const id = newIdentity('stream');
    const t = await register(a, id);
    const sub = await watch(a, t.accessToken);
    await b.services.publisher.stop(); // one publisher, so its passes are what is counted
    try {
      const t0 = Date.now();
      const at = new Map<string, number>();
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + i * 33 - Date.now())));
        const [row] = await a.infra.prisma.$queryRaw<{ id: string }[]>`
          INSERT INTO security_events (user_id, actor_id, type) VALUES (${t.user.id}::uuid, ${t.user.id}::uuid, 'SIGNED_IN') RETURNING id::text AS id`;
        at.set(row!.id, Date.now());
      }
      const streamMs = Date.now() - t0;
      for (const eventId of at.keys()) await sub.next((e) => e.id === eventId, 5_000);
      // From the commit to the subscriber's socket: the spacing adds at most 100 ms under load.
      const delays = sub.events.filter((e) => at.has(e.id)).map((e) => e.receivedAt - at.get(e.id)!).sort((x, y) => x - y);
      expect(delays[Math.floor(delays.length / 2)]).toBeLessThan(150);
      expect(delays.at(-1)).toBeLessThan(1_000);
      const rows = await eventually(
        () => a.infra.prisma.securityEvent.findMany({ where: { id: { in: [...at.keys()] } }, select: { publishedAt: true } }),
        (r) => r.every((e) => e.publishedAt !== null),
        5_000,
      );
      // Each pass marks the batch before it: one published_at per pass.
      const passes = new Set(rows.map((r) => r.publishedAt!.getTime())).size;
      expect(passes).toBeLessThanOrEqual(Math.ceil(streamMs / 100) + 2);
      expect(passes).toBeGreaterThanOrEqual(Math.floor(streamMs / 1_000)); // not held back to the sweep
    } finally {
      await b.services.publisher.start();
    }
  });
});
