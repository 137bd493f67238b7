import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdentity, register } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { sentTo } from '../../test/mail-server.js';
import { startOwnRedis, type OwnRedis } from '../../test/redis-server.js';
import { eventually } from '../../test/tcp-proxy.js';

/**
 * Queued jobs live only in Redis. When Redis loses its data (a restart without persistence, FLUSHALL,
 * failover to an empty replica) while verification emails wait in the queue, each of them must still go
 * out, exactly once: the outbox rows in PostgreSQL are the source, Resend's idempotency key the dedupe.
 */
describe('email delivery when Redis loses its queued jobs', () => {
  const fx = useTestServers('redisloss', { mail: true });
  let redis: OwnRedis;
  let server: TestServer;
  /** The email worker's concurrency: this many sends hang at the double, the next ones wait in BullMQ. */
  const RUNNING = 8;
  const WAITING = 4;

  beforeAll(async () => {
    redis = await startOwnRedis();
    server = await fx.start({ env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    fx.mail.releaseHangs();
    await server?.close();
    await redis?.close();
  });

  const verificationsTo = (email: string) => fx.mail.delivered.filter((m) => sentTo(m, email) && /verify/i.test(m.subject));

  /** Sign-ups whose emails are queued but not sent when `lose` wipes Redis; then every one must arrive once. */
  async function signUpsAcross(lose: () => Promise<void>) {
    fx.mail.hangNext(Infinity);
    const hungBefore = fx.mail.requests.filter((r) => r.outcome === 'hung').length;
    const identities = Array.from({ length: RUNNING + WAITING }, () => newIdentity('lost'));
    for (const id of identities) await register(server, id);
    // Every job handed to BullMQ, the worker's slots all busy at the double: the rest wait in Redis.
    await eventually(() => server.infra.prisma.outboxMessage.count({ where: { kind: 'email', dispatchedAt: null } }), (n) => n === 0, 15_000);
    await eventually(async () => fx.mail.requests.filter((r) => r.outcome === 'hung').length - hungBefore, (n) => n === RUNNING, 15_000);
    expect(Number(await redis.command('LLEN', `${fx.prefix}bull:email:wait`))).toBe(WAITING);

    await lose();
    fx.mail.releaseHangs();

    for (const id of identities) await fx.mail.waitForDelivery((m) => sentTo(m, id.email) && /verify/i.test(m.subject), 30_000);
    for (const id of identities) expect(verificationsTo(id.email)).toHaveLength(1);
    // Each row is marked SENT once its send has answered.
    const addresses = identities.map((i) => i.email.toLowerCase());
    await eventually(() => server.infra.prisma.emailMessage.findMany({ where: { toAddress: { in: addresses } }, select: { status: true } }), (rows) => rows.length === addresses.length && rows.every((r) => r.status === 'SENT'), 15_000);
  }

  it('FLUSHALL: the emails that waited in the queue still go out, once each', async () => {
    await signUpsAcross(async () => {
      await redis.command('FLUSHALL');
    });
  });

  it('a restart without persistence: the same', async () => {
    await signUpsAcross(async () => {
      await redis.stop();
      await redis.start();
    });
  });
});
