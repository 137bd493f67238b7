import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { accountWithRole } from '../../test/admin-client.js';
import { bearer, codeOf, register, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { eventually } from '../../test/tcp-proxy.js';
import { startReceiver, type Received, type Receiver } from '../../test/webhook-receiver.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { Tx } from '../../core/tx.js';

const ENDPOINT = 'id url events description enabled createdAt';
const OPS = {
  create: `mutation Create($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT} } } }`,
  update: `mutation Update($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { ${ENDPOINT} } }`,
  delete: 'mutation Delete($id: ID!) { deleteWebhookEndpoint(id: $id) }',
  rotate: `mutation Rotate($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT} } } }`,
  redeliver: 'mutation Redeliver($id: ID!) { redeliverWebhook(deliveryId: $id) { id messageId status attempts } }',
  endpoints: `query Endpoints { webhookEndpoints { ${ENDPOINT} } }`,
  deliveries:
    'query Deliveries($id: ID!, $first: Int, $after: String) { webhookDeliveries(endpointId: $id, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { id endpointId messageId eventType status attempts lastResponseStatus lastError createdAt deliveredAt nextAttemptAt } } } }',
  auditLog: 'query Audit($filter: AuditLogFilter) { auditLog(filter: $filter, first: 50) { edges { node { action actorId details } } } }',
} as const;

interface Delivery {
  id: string;
  endpointId: string;
  messageId: string;
  eventType: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
}

type Body = { type: string; timestamp: string; data: Record<string, unknown> };
const bodyOf = (r: Received) => JSON.parse(r.body) as Body;
const about = (userId: string) => (r: Received) => (bodyOf(r).data.userId as string | undefined) === userId;

/** Verifies a request as a receiver would: the official Standard Webhooks library, with the endpoint's secret. */
function verify(secret: string, r: Received): Body {
  const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(r.headers[h])]));
  return new Webhook(secret).verify(r.body, headers) as Body;
}

describe('webhooks', () => {
  const fx = useTestServers('webhooks');
  let server: TestServer;
  let receiver: Receiver;
  let admin: Tokens;

  const call = <T = Record<string, unknown>>(op: keyof typeof OPS, variables: Record<string, unknown> = {}, token = admin.accessToken) =>
    gql<T>(server, OPS[op], variables, bearer(token));

  async function createEndpoint(path: string, events: string[] = []): Promise<{ id: string; secret: string }> {
    const res = await call<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>('create', { input: { url: receiver.url(path), events } });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return { id: res.body.data!.createWebhookEndpoint.endpoint.id, secret: res.body.data!.createWebhookEndpoint.secret };
  }

  const deliveries = async (endpointId: string): Promise<Delivery[]> => {
    const res = await call<{ webhookDeliveries: { edges: { node: Delivery }[] } }>('deliveries', { id: endpointId, first: 100 });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.webhookDeliveries.edges.map((e) => e.node);
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    // Deliveries go to a receiver on loopback: opted into explicitly (the default outside development is off).
    server = await fx.start({ workers: true, env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_RETRY_DELAY_MS: '50' } });
    admin = await accountWithRole(server, 'ADMIN');
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('delivers a committed change, signed so that the official standardwebhooks library verifies it', async () => {
    const all = await createEndpoint('/all');
    const onlyCreated = await createEndpoint('/created', ['user.created']);
    expect(all.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const user = await register(server);
    await receiver.until(() => receiver.at('/all').some(about(user.user.id)) && receiver.at('/created').some(about(user.user.id)));
    const [got] = receiver.at('/created').filter(about(user.user.id));
    const body = verify(onlyCreated.secret, got!);
    expect(body).toEqual({ type: 'user.created', timestamp: expect.any(String), data: expect.objectContaining({ userId: user.user.id, ip: expect.any(String) }) });
    // The other endpoint's secret does not verify it; each endpoint signs with its own.
    expect(() => verify(all.secret, got!)).toThrow();
    // The empty filter gets every type: the sign-up and the session it opened.
    await receiver.until(() => receiver.at('/all').filter(about(user.user.id)).length >= 2);
    const types = receiver.at('/all').filter(about(user.user.id)).map((r) => verify(all.secret, r).type);
    expect(types).toEqual(expect.arrayContaining(['user.created', 'session.created']));
    const session = receiver.at('/all').filter(about(user.user.id)).map(bodyOf).find((b) => b.type === 'session.created')!;
    expect(session.data).toEqual(expect.objectContaining({ userId: user.user.id, sessionId: expect.any(String) }));
    // Nothing secret travels: no token, no password.
    for (const r of receiver.at('/all').filter(about(user.user.id))) {
      expect(r.body).not.toContain(user.password);
      expect(r.body).not.toContain(user.refreshToken);
    }
    const listed = await eventually(() => deliveries(onlyCreated.id), (list) => list.some((d) => d.status === 'SUCCEEDED'));
    expect(listed.every((d) => d.eventType === 'user.created')).toBe(true);
    expect(listed.find((d) => d.messageId === got!.headers['webhook-id'])).toEqual(expect.objectContaining({ status: 'SUCCEEDED', attempts: 1, lastResponseStatus: 204 }));
  });

  it('keeps the secret sealed and shows it only at creation and rotation', async () => {
    const ep = await createEndpoint('/sealed', ['user.created']);
    const rows = await server.infra.prisma.$queryRaw<{ row: string }[]>`SELECT row_to_json(w)::text AS row FROM webhook_endpoints w WHERE id = ${ep.id}::uuid`;
    expect(rows[0]!.row).not.toContain(ep.secret.slice('whsec_'.length));
    const listed = await call<{ webhookEndpoints: Record<string, unknown>[] }>('endpoints');
    expect(JSON.stringify(listed.body)).not.toContain(ep.secret);
  });

  it('signs with both secrets for a day after a rotation, so a receiver with either one verifies', async () => {
    const ep = await createEndpoint('/rotate', ['user.created']);
    const rotated = await call<{ rotateWebhookSecret: { secret: string; endpoint: { id: string } } }>('rotate', { id: ep.id });
    const fresh = rotated.body.data!.rotateWebhookSecret.secret;
    expect(fresh).not.toBe(ep.secret);
    const user = await register(server);
    await receiver.until(() => receiver.at('/rotate').some(about(user.user.id)));
    const got = receiver.at('/rotate').find(about(user.user.id))!;
    expect(String(got.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(fresh, got).data.userId).toBe(user.user.id);
    expect(verify(ep.secret, got).data.userId).toBe(user.user.id);
    // A second rotation ends the first secret's overlap: the one it replaces signs, the oldest no longer does.
    const again = (await call<{ rotateWebhookSecret: { secret: string } }>('rotate', { id: ep.id })).body.data!.rotateWebhookSecret.secret;
    const next = await register(server);
    await receiver.until(() => receiver.at('/rotate').some(about(next.user.id)));
    const second = receiver.at('/rotate').find(about(next.user.id))!;
    expect(verify(again, second).data.userId).toBe(next.user.id);
    expect(verify(fresh, second).data.userId).toBe(next.user.id);
    expect(() => verify(ep.secret, second)).toThrow();
  });

  it('retries after a 500 and after no answer, with the same webhook-id, until a 2xx', { timeout: 60_000 }, async () => {
    receiver.answer('/flaky', [500, 'hang', 200]);
    const ep = await createEndpoint('/flaky', ['user.created']);
    const user = await register(server);
    await receiver.until(() => receiver.at('/flaky').filter(about(user.user.id)).length >= 3, 45_000);
    const attempts = receiver.at('/flaky').filter(about(user.user.id));
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((r) => r.headers['webhook-id'])).size).toBe(1);
    // The same bytes each time, each attempt freshly signed and verifiable.
    expect(new Set(attempts.map((r) => r.body)).size).toBe(1);
    for (const r of attempts) expect(verify(ep.secret, r).data.userId).toBe(user.user.id);
    const [delivery] = await eventually(() => deliveries(ep.id), (list) => list[0]?.status === 'SUCCEEDED', 15_000);
    expect(delivery).toEqual(expect.objectContaining({ status: 'SUCCEEDED', attempts: 3, lastResponseStatus: 200, lastError: null, nextAttemptAt: null }));
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    receiver.answer('/moved', [307]);
    const ep = await createEndpoint('/moved', ['user.created']);
    const user = await register(server);
    const [delivery] = await eventually(() => deliveries(ep.id), (list) => (list[0]?.attempts ?? 0) >= 1);
    // Retried (the circuit may already have opened, so the last status is not asserted), never SUCCEEDED.
    expect(delivery!.status).not.toBe('SUCCEEDED');
    expect(receiver.at('/moved').filter(about(user.user.id)).length).toBeGreaterThanOrEqual(1);
    expect(receiver.at('/moved/redirected')).toHaveLength(0);
    await call('delete', { id: ep.id });
  });

  it('keeps a receiver that never answers to a few connections while another endpoint gets every event', { timeout: 90_000 }, async () => {
    receiver.answer('/black-hole', ['hang']);
    const hole = await createEndpoint('/black-hole', ['user.created']);
    const fine = await createEndpoint('/fine', ['user.created']);
    const users: Tokens[] = [];
    await Promise.all(
      [0, 1, 2].map(async () => {
        for (let i = 0; i < 10; i++) users.push(await register(server));
      }),
    );
    await receiver.until(() => users.every((u) => receiver.at('/fine').some(about(u.user.id))), 60_000);
    const delivered = await eventually(() => deliveries(fine.id), (list) => list.filter((d) => d.status === 'SUCCEEDED').length >= users.length);
    expect(delivered.filter((d) => d.status === 'SUCCEEDED' && d.attempts === 1).length).toBeGreaterThanOrEqual(users.length);
    // 30 messages for the black hole, but at most 16 held connections per worker (plus a probe once the circuit opened).
    expect(receiver.at('/black-hole').length).toBeGreaterThan(0);
    expect(receiver.at('/black-hole').length).toBeLessThanOrEqual(20);
    await call('delete', { id: hole.id });
  });

  it('sends nothing for a change that rolled back, and the next committed one still arrives', async () => {
    await createEndpoint('/rollback', ['user.created']);
    const phantom = '00000000-0000-4000-8000-00000000beef';
    // A change that wrote its audit entry (the event) and then failed: the transaction rolls back.
    await expect(
      server.infra.prisma.$transaction(async (tx) => {
        await recordAudit(tx as unknown as Tx, null, [{ action: 'user.registered', outcome: 'SUCCESS', actorId: phantom, targetUserId: phantom }]);
        throw new Error('the change failed after its event was written');
      }),
    ).rejects.toThrow('the change failed');
    const user = await register(server);
    await receiver.until(() => receiver.at('/rollback').some(about(user.user.id)));
    await server.services.auditSealer.pass();
    expect(receiver.received.some(about(phantom))).toBe(false);
    const deliveriesOfPhantom = await server.infra.prisma.webhookDelivery.count({ where: { body: { contains: phantom } } });
    expect(deliveriesOfPhantom).toBe(0);
  });

  it('disables an endpoint that answers 410, audits it, and sends it nothing more', async () => {
    receiver.answer('/gone', [410]);
    const ep = await createEndpoint('/gone', ['user.created']);
    const first = await register(server);
    await receiver.until(() => receiver.at('/gone').some(about(first.user.id)));
    const [endpoint] = await eventually(
      async () => (await call<{ webhookEndpoints: { id: string; enabled: boolean }[] }>('endpoints')).body.data!.webhookEndpoints.filter((e) => e.id === ep.id),
      (list) => list[0]?.enabled === false,
    );
    expect(endpoint!.enabled).toBe(false);
    const [delivery] = await deliveries(ep.id);
    expect(delivery).toEqual(expect.objectContaining({ status: 'FAILED', attempts: 1, lastResponseStatus: 410, nextAttemptAt: null }));
    const audit = await eventually(
      async () => (await call<{ auditLog: { edges: { node: { action: string; actorId: string | null; details: Record<string, unknown> } }[] } }>('auditLog', { filter: { action: 'webhook.endpoint_disabled' } })).body.data!.auditLog.edges,
      (edges) => edges.some((e) => e.node.details?.endpointId === ep.id),
    );
    expect(audit.find((e) => e.node.details?.endpointId === ep.id)!.node).toEqual(expect.objectContaining({ actorId: null, details: { endpointId: ep.id, reason: 'gone' } }));
    const before = receiver.at('/gone').length;
    const second = await register(server);
    await receiver.until(() => receiver.at('/created').some(about(second.user.id)));
    await server.services.auditSealer.pass();
    expect(receiver.at('/gone')).toHaveLength(before);
    // A redelivery to a disabled endpoint is refused; enabled again, it goes out with the same webhook-id.
    expect(codeOf((await call('redeliver', { id: delivery!.id })).body)).toBe('BAD_USER_INPUT');
    receiver.answer('/gone', [200]);
    await call('update', { id: ep.id, input: { enabled: true } });
    const redelivered = await call<{ redeliverWebhook: { id: string; messageId: string; status: string; attempts: number } }>('redeliver', { id: delivery!.id });
    expect(redelivered.body.data!.redeliverWebhook).toEqual(expect.objectContaining({ messageId: delivery!.messageId, status: 'PENDING', attempts: 0 }));
    await receiver.until(() => receiver.at('/gone').filter(about(first.user.id)).length === 2);
    const copies = receiver.at('/gone').filter(about(first.user.id));
    expect(copies[1]!.headers['webhook-id']).toBe(copies[0]!.headers['webhook-id']);
  });

  it('lets only ADMINs manage endpoints, and audits every change', async () => {
    const support = await accountWithRole(server, 'SUPPORT');
    const user = await register(server);
    for (const token of [support.accessToken, user.accessToken]) {
      expect(codeOf((await call('create', { input: { url: receiver.url('/x'), events: [] } }, token)).body)).toBe('FORBIDDEN');
      expect(codeOf((await call('endpoints', {}, token)).body)).toBe('FORBIDDEN');
    }
    const ep = await createEndpoint('/audited?token=do-not-log', ['user.created']);
    expect(codeOf((await call('update', { id: ep.id, input: { events: ['user.unknown'] } })).body)).toBe('BAD_USER_INPUT');
    const updated = await call<{ updateWebhookEndpoint: { events: string[]; description: string } }>('update', { id: ep.id, input: { events: ['user.deleted'], description: 'crm' } });
    expect(updated.body.data!.updateWebhookEndpoint).toEqual(expect.objectContaining({ events: ['user.deleted'], description: 'crm' }));
    await call('rotate', { id: ep.id });
    expect((await call<{ deleteWebhookEndpoint: boolean }>('delete', { id: ep.id })).body.data!.deleteWebhookEndpoint).toBe(true);
    expect(codeOf((await call('delete', { id: ep.id })).body)).toBe('BAD_USER_INPUT');
    const actions = await eventually(
      async () => (await call<{ auditLog: { edges: { node: { action: string; actorId: string; details: Record<string, unknown> } }[] } }>('auditLog', { filter: { actorId: admin.user.id } })).body.data!.auditLog.edges,
      (edges) => edges.some((e) => e.node.action === 'webhook.endpoint_deleted' && e.node.details?.endpointId === ep.id),
    );
    const mine = actions.filter((e) => e.node.details?.endpointId === ep.id).map((e) => e.node.action);
    expect(mine.sort()).toEqual(['webhook.endpoint_created', 'webhook.endpoint_deleted', 'webhook.endpoint_updated', 'webhook.secret_rotated']);
    // The URL's query (often a receiver's token) is not in the log: only its origin.
    expect(JSON.stringify(actions)).not.toContain('do-not-log');
  });

  describe('with private networks refused (WEBHOOK_ALLOW_PRIVATE_NETWORKS=false)', () => {
    let strict: TestServer;
    let strictAdmin: Tokens;
    beforeAll(async () => {
      // WEBHOOK_DISABLE_AFTER_DAYS=0: an endpoint is disabled at its first failure (days shortened to nothing).
      strict = await fx.start({ workers: true, env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_RETRY_DELAY_MS: '50', WEBHOOK_DISABLE_AFTER_DAYS: '0' } });
      strictAdmin = await accountWithRole(strict, 'ADMIN', 'strictadmin');
    });

    it.each([
      ['IPv4 loopback', 'http://127.0.0.1:9/hook'],
      ['IPv6 loopback', 'http://[::1]:9/hook'],
      ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]:9/hook'],
      ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
      ['a private address', 'http://10.0.0.8/hook'],
      ['a CGNAT address', 'https://100.64.0.1/hook'],
      ['a hostname resolving to loopback', 'http://localhost:9/hook'],
    ])('refuses %s at creation', async (_name, url) => {
      const res = await gql(strict, OPS.create, { input: { url, events: [] } }, bearer(strictAdmin.accessToken));
      expect(codeOf(res.body)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0]!.extensions!.fields).toHaveProperty('url');
    });

    it('checks again at delivery, against the address it connects to; an endpoint failing long enough is disabled', async () => {
      // Created where loopback was allowed, delivered where it is not (as after a DNS change): the permissive
      // server stops, so only the strict one relays and works the queue.
      const ep = await createEndpoint('/rebound', ['user.created']);
      await server.close();
      const user = await register(strict);
      const asStrict = <T>(op: keyof typeof OPS, variables: Record<string, unknown>) => gql<T>(strict, OPS[op], variables, bearer(strictAdmin.accessToken));
      const read = async () => (await asStrict<{ webhookDeliveries: { edges: { node: Delivery }[] } }>('deliveries', { id: ep.id, first: 10 })).body.data!.webhookDeliveries.edges.map((e) => e.node);
      const [delivery] = await eventually(read, (list) => list[0]?.status === 'FAILED', 20_000);
      expect(delivery).toEqual(expect.objectContaining({ status: 'FAILED', attempts: 1, lastResponseStatus: null, nextAttemptAt: null }));
      expect(delivery!.lastError).toMatch(/loopback, private, link-local or reserved/);
      expect(receiver.at('/rebound').some(about(user.user.id))).toBe(false);
      // Every attempt failed for WEBHOOK_DISABLE_AFTER_DAYS (here 0): disabled by the system, audited.
      const listed = (await asStrict<{ webhookEndpoints: { id: string; enabled: boolean }[] }>('endpoints', {})).body.data!.webhookEndpoints;
      expect(listed.find((e) => e.id === ep.id)!.enabled).toBe(false);
      const audit = await eventually(
        async () => (await asStrict<{ auditLog: { edges: { node: { actorId: string | null; details: Record<string, unknown> | null } }[] } }>('auditLog', { filter: { action: 'webhook.endpoint_disabled' } })).body.data!.auditLog.edges,
        (edges) => edges.some((e) => e.node.details?.endpointId === ep.id),
      );
      expect(audit.find((e) => e.node.details?.endpointId === ep.id)!.node).toEqual(expect.objectContaining({ actorId: null, details: { endpointId: ep.id, reason: 'failing' } }));
    });
  });
});
