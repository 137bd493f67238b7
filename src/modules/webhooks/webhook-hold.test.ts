import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { accountWithRole } from '../../test/admin-client.js';
import { bearer, register, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { eventually } from '../../test/tcp-proxy.js';
import { startReceiver, type Received, type Receiver } from '../../test/webhook-receiver.js';

const CREATE = 'mutation Create($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }';
const DELIVERIES =
  'query Deliveries($id: ID!, $first: Int) { webhookDeliveries(endpointId: $id, first: $first) { edges { node { id messageId status attempts nextAttemptAt } } } }';

interface Delivery {
  id: string;
  messageId: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  nextAttemptAt: string | null;
}

type Body = { type: string; data: { userId?: string } };

function verify(secret: string, r: Received): Body {
  const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(r.headers[h])]));
  return new Webhook(secret).verify(r.body, headers) as Body;
}

describe('webhooks: a dead endpoint while its circuit is open', () => {
  const fx = useTestServers('webhook-hold');
  let server: TestServer;
  let receiver: Receiver;
  let admin: Tokens;

  beforeAll(async () => {
    receiver = await startReceiver();
    // Many attempts allowed: the probes keep trying the oldest held delivery, however slowly the box runs.
    server = await fx.start({ workers: true, env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_RETRY_DELAY_MS: '50', WEBHOOK_MAX_ATTEMPTS: '50' } });
    admin = await accountWithRole(server, 'ADMIN');
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function createEndpoint(path: string): Promise<{ id: string; secret: string }> {
    const res = await gql<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(server, CREATE, { input: { url: receiver.url(path), events: ['user.created'] } }, bearer(admin.accessToken));
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return { id: res.body.data!.createWebhookEndpoint.endpoint.id, secret: res.body.data!.createWebhookEndpoint.secret };
  }
  const deliveries = async (endpointId: string): Promise<Delivery[]> => {
    const res = await gql<{ webhookDeliveries: { edges: { node: Delivery }[] } }>(server, DELIVERIES, { id: endpointId, first: 100 }, bearer(admin.accessToken));
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.webhookDeliveries.edges.map((e) => e.node);
  };
  /** The BullMQ jobs waiting, delayed or running for an endpoint. */
  const jobsFor = async (endpointId: string) => {
    const jobs = await server.infra.queues.queue('webhook-delivery').getJobs(['waiting', 'delayed', 'active', 'prioritized']);
    return jobs.filter((j) => j?.data.endpointId === endpointId).length;
  };

  it('holds its deliveries without a job each, the healthy one gets everything, and once it answers each held delivery arrives once', { timeout: 120_000 }, async () => {
    receiver.answer('/down', [500]);
    const down = await createEndpoint('/down');
    const up = await createEndpoint('/up');
    // Failures in a row open the circuit: three sign-ups whose deliveries fail (and retry).
    const users: Tokens[] = [];
    for (let i = 0; i < 3; i++) users.push(await register(server));
    await eventually(
      () => server.infra.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: down.id }, select: { heldUntil: true } }),
      (e) => e.heldUntil !== null,
      20_000,
    );
    // While it is held, twenty more sign-ups.
    for (let i = 0; i < 20; i++) users.push(await register(server));
    const about = (r: Received) => JSON.parse(r.body) as Body;
    await receiver.until(() => users.every((u) => receiver.at('/up').some((r) => about(r).data.userId === u.user.id)), 30_000);

    // Held: every delivery of the down endpoint exists (PENDING, its next attempt announced), most never
    // attempted, no queued job for any of them, and every attempt counted is a request the receiver got.
    const held = await eventually(
      async () => ({ list: await deliveries(down.id), jobs: await jobsFor(down.id) }),
      ({ list, jobs }) => list.length === users.length && jobs === 0,
      20_000,
    );
    expect(held.list.every((d) => d.status === 'PENDING' && d.nextAttemptAt !== null)).toBe(true);
    expect(held.list.filter((d) => d.attempts === 0).length).toBeGreaterThanOrEqual(18);
    const tried = held.list.reduce((n, d) => n + d.attempts, 0);
    expect(tried).toBeLessThanOrEqual(receiver.at('/down').length);
    expect(receiver.at('/down').length).toBeLessThan(users.length);
    const failedIds = new Set(receiver.at('/down').map((r) => String(r.headers['webhook-id'])));

    // It answers again: the next probe succeeds and releases the rest.
    const before = receiver.at('/down').length;
    receiver.answer('/down', [200]);
    const done = await eventually(() => deliveries(down.id), (list) => list.every((d) => d.status === 'SUCCEEDED'), 90_000);
    await eventually(() => jobsFor(down.id), (n) => n === 0);
    const answered = receiver.at('/down').slice(before);
    // Exactly once each: one 2xx-answered request per message, verified with the receiver's library.
    const ids = answered.map((r) => String(r.headers['webhook-id']));
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(done.map((d) => d.messageId)));
    expect(new Set(answered.map((r) => verify(down.secret, r).data.userId))).toEqual(new Set(users.map((u) => u.user.id)));
    // A message tried before the circuit opened keeps its webhook-id.
    for (const id of failedIds) expect(ids).toContain(id);
    // Never-tried held deliveries took one attempt each.
    expect(done.filter((d) => d.attempts === 1).length).toBeGreaterThanOrEqual(18);
    // The healthy endpoint got every event once.
    expect(receiver.at('/up').filter((r) => verify(up.secret, r).type === 'user.created').length).toBe(users.length);
  });

  it('repairs what a crash between steps left: held deliveries with no hold are released, an overdue hold gets its probe', { timeout: 60_000 }, async () => {
    const ep = await createEndpoint('/crash');
    const sweep = () => server.services.webhookWorker.hold.sweep();
    const setHold = (sql: 'future' | 'past' | 'none') =>
      sql === 'none'
        ? server.infra.prisma.$executeRaw`UPDATE webhook_endpoints SET held_until = NULL WHERE id = ${ep.id}::uuid`
        : sql === 'future'
          ? server.infra.prisma.$executeRaw`UPDATE webhook_endpoints SET held_until = now() + interval '1 hour' WHERE id = ${ep.id}::uuid`
          : server.infra.prisma.$executeRaw`UPDATE webhook_endpoints SET held_until = now() - interval '1 minute' WHERE id = ${ep.id}::uuid`;
    const arrived = (userId: string) => receiver.at('/crash').some((r) => verify(ep.secret, r).data.userId === userId);

    // Held (its probe far off), a sign-up's delivery waits; then the hold vanishes as after a lost step.
    await setHold('future');
    const first = await register(server);
    await eventually(() => deliveries(ep.id), (list) => list.length === 1);
    await server.services.auditSealer.pass();
    expect(arrived(first.user.id)).toBe(false);
    await setHold('none');
    expect((await sweep()).released).toBe(1);
    await receiver.until(() => arrived(first.user.id));

    // Held with its wait over and no probe queued (lost with a crash): the sweep queues one, which delivers.
    await setHold('future');
    const second = await register(server);
    await eventually(() => deliveries(ep.id), (list) => list.length === 2);
    await setHold('past');
    expect((await sweep()).probed).toBe(1);
    await receiver.until(() => arrived(second.user.id));
    const list = await eventually(() => deliveries(ep.id), (l) => l.every((d) => d.status === 'SUCCEEDED'));
    expect(list.map((d) => d.attempts)).toEqual([1, 1]);
    expect(receiver.at('/crash')).toHaveLength(2);
  });

  it('logs an attempt that will be retried at debug, and only the last failure at warn', { timeout: 60_000 }, async () => {
    receiver.answer('/log', [500, 410]);
    const ep = await createEndpoint('/log');
    await register(server);
    const [delivery] = await eventually(() => deliveries(ep.id), (list) => list[0]?.status === 'FAILED', 30_000);
    const lines = await eventually(
      async () => server.logs.map((l) => JSON.parse(l) as { level: string; msg: string; queue?: string; jobId?: string }).filter((l) => l.queue === 'webhook-delivery' && l.jobId === delivery!.id),
      (found) => found.length >= 2,
    );
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'job attempt failed; will retry'],
      ['warn', 'job failed: no attempts left'],
    ]);
  });
});
