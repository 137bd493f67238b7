import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface ReceivedEvent {
  id: string;
  type: string;
  occurredAt: string;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  readAt: string | null;
}

export const ON_EVENT = 'subscription OnSecurityEvent { securityEvent { id type occurredAt sessionId ip userAgent readAt } }';

/** A real graphql-ws client subscribed to `securityEvent`, recording what arrives and how the socket closed. */
export async function subscribe(wsUrl: string, accessToken: string) {
  const events: (ReceivedEvent & { receivedAt: number })[] = [];
  const waiters = new Set<{ match: (e: ReceivedEvent) => boolean; resolve: (e: ReceivedEvent & { receivedAt: number }) => void }>();
  let closed: { code: number; reason: string } | undefined;
  const closeWaiters = new Set<(c: { code: number; reason: string }) => void>();
  let acked!: () => void;
  const ready = new Promise<void>((r) => (acked = r));
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    // The close is what the tests assert; graphql-ws would also print it to stderr.
    onNonLazyError: () => undefined,
    connectionParams: { authorization: `Bearer ${accessToken}` },
    on: {
      connected: () => acked(),
      closed: (e) => {
        const ev = e as { code: number; reason: string };
        closed = { code: ev.code, reason: String(ev.reason) };
        for (const w of closeWaiters) w(closed);
      },
    },
  });
  client.subscribe<{ securityEvent: ReceivedEvent }>(
    { query: ON_EVENT },
    {
      next: ({ data }) => {
        if (!data) return;
        const e = { ...data.securityEvent, receivedAt: Date.now() };
        events.push(e);
        for (const w of [...waiters]) {
          if (!w.match(e)) continue;
          waiters.delete(w);
          w.resolve(e);
        }
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
  await ready;
  // The subscribe message follows the ack; give the server a moment to register it before events flow.
  await new Promise((r) => setTimeout(r, 100));
  return {
    events,
    next(match: (e: ReceivedEvent) => boolean, timeoutMs = 2_000): Promise<ReceivedEvent & { receivedAt: number }> {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (e: ReceivedEvent & { receivedAt: number }) => (clearTimeout(t), resolve(e)) };
        const t = setTimeout(() => (waiters.delete(w), reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`))), timeoutMs);
        waiters.add(w);
      });
    },
    closedWith(timeoutMs = 2_000): Promise<{ code: number; reason: string }> {
      if (closed) return Promise.resolve(closed);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
        closeWaiters.add((c) => (clearTimeout(t), resolve(c)));
      });
    },
    get closed() {
      return closed;
    },
    dispose: () => client.dispose(),
  };
}
