import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { register } from '../test/auth-client.js';
import { useTestServer } from '../test/harness.js';
import { eventually } from '../test/tcp-proxy.js';
import { MAX_PENDING_EVENTS, type Message } from '../infra/pubsub.js';

const ON_AUDIT = 'subscription { auditEvent { id action } }';

/**
 * A burst of events larger than a subscription's backlog bound (pubsub.ts, MAX_PENDING_EVENTS), arriving
 * faster than its group executes them (`auditEvent` checks the operator's role for every entry): the
 * subscription ends with a coded SERVICE_UNAVAILABLE error (the client pages from its last entry), and the
 * socket and the process go on. Before the bound, the backlog's overflow was thrown inside Redis' message
 * handler, uncaught, and ended the process.
 */
describe('a subscription that falls behind a burst of events', () => {
  const fx = useTestServer('ws-backlog');
  const clients: Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
  });

  it('ends with SERVICE_UNAVAILABLE, and the same socket subscribes again and gets events', async () => {
    const { server } = fx;
    const t = await register(server);
    await server.infra.prisma.user.update({ where: { id: t.user.id }, data: { role: 'ADMIN' } });
    await server.services.identity.accountChanged(t.user.id);
    let closed = false;
    let acked!: () => void;
    const ready = new Promise<void>((r) => (acked = r));
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
      connectionParams: { authorization: `Bearer ${t.accessToken}` },
      on: { connected: () => acked(), closed: () => (closed = true) },
    });
    clients.push(client);
    await ready;
    const watch = () => {
      const got = { ids: [] as string[], errors: [] as string[], completed: false };
      client.subscribe<{ auditEvent: { id: string } }>(
        { query: ON_AUDIT },
        {
          next: ({ data }) => void (data && got.ids.push(data.auditEvent.id)),
          error: (e) => {
            for (const x of Array.isArray(e) ? (e as { extensions?: { code?: string } }[]) : []) got.errors.push(String(x.extensions?.code));
          },
          complete: () => (got.completed = true),
        },
      );
      return got;
    };
    const event = (): Message => ({
      topic: 'auditEvent',
      id: 'all',
      payload: {
        id: randomUUID(),
        occurredAt: new Date().toISOString(),
        action: 'security.alert',
        outcome: 'SUCCESS',
        actorId: null,
        targetUserId: null,
        sessionId: null,
        ip: '192.0.2.1',
        userAgent: null,
        requestId: null,
        details: { rule: 'burst' },
      },
    });

    const first = watch();
    await new Promise((r) => setTimeout(r, 150)); // the subscribe reaches the server
    await server.infra.pubsub.publishAll(Array.from({ length: MAX_PENDING_EVENTS * 2 }, event));
    await eventually(async () => first.errors, (errors) => errors.length > 0, 10_000);
    expect(first.errors).toEqual(['SERVICE_UNAVAILABLE']);
    expect(first.ids.length).toBeLessThan(MAX_PENDING_EVENTS * 2);
    expect(closed).toBe(false);

    const again = watch();
    await new Promise((r) => setTimeout(r, 150));
    const two = [event(), event()];
    await server.infra.pubsub.publishAll(two);
    const ids = two.map((m) => (m.payload as { id: string }).id);
    // (Entries of the sign-up may arrive too, from the audit feed.)
    await eventually(async () => again.ids, (got) => ids.every((id) => got.includes(id)), 5_000);
    expect(again.errors).toEqual([]);
    expect(closed).toBe(false);
  });
});
