// The floor under bench/subscriptions.mjs (`--server=baseline`): graphql-ws + ws on a plain graphql-js schema,
// fed by one ioredis subscriber on the same channels as Latchkey, with no authentication (the token's `sub`
// is read, not verified), no type-graphql, no Apollo, no yoga pub/sub. What the deliveries cost here is the
// transport (Redis in, one WebSocket frame out per subscriber) plus bare GraphQL execution.
//   PORT=... REDIS_URL=... REDIS_KEY_PREFIX=... node bench/ws-baseline-server.mjs
import { createServer } from 'node:http';
import { buildSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const prefix = process.env.REDIS_KEY_PREFIX;
const channelOf = (userId) => `${prefix}pubsub:securityEvent:${userId}`;
const schema = buildSchema(`
  type SecurityEvent { id: ID! type: String! occurredAt: String sessionId: ID ip: String userAgent: String readAt: String }
  type Query { ok: Boolean }
  type Subscription { securityEvent: SecurityEvent! }
`);

const sub = new Redis(process.env.REDIS_URL);
/** channel -> listeners */
const listeners = new Map();
sub.on('message', (channel, message) => {
  const set = listeners.get(channel);
  if (!set) return;
  const event = JSON.parse(message);
  for (const push of set) push(event);
});

/** A minimal async iterator over one user's channel (unbounded queue, like yoga's Repeater without a buffer). */
function subscribeUser(userId) {
  const channel = channelOf(userId);
  const queue = [];
  let waiting;
  let done = false;
  const push = (event) => {
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w({ value: event, done: false });
    } else queue.push(event);
  };
  let set = listeners.get(channel);
  if (!set) {
    set = new Set();
    listeners.set(channel, set);
    sub.subscribe(channel);
  }
  set.add(push);
  const stop = () => {
    done = true;
    set.delete(push);
    if (set.size === 0) {
      listeners.delete(channel);
      sub.unsubscribe(channel);
    }
    waiting?.({ value: undefined, done: true });
  };
  return {
    next: () => (queue.length ? Promise.resolve({ value: queue.shift(), done: false }) : done ? Promise.resolve({ value: undefined, done: true }) : new Promise((r) => (waiting = r))),
    return: () => {
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

const field = schema.getSubscriptionType().getFields().securityEvent;
field.subscribe = (_root, _args, ctx) => subscribeUser(ctx.userId);
field.resolve = (event) => event;

const server = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer(
  {
    schema,
    onConnect(ctx) {
      const token = String(ctx.connectionParams?.authorization ?? '').replace(/^Bearer /, '');
      try {
        ctx.extra.userId = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
      } catch {
        return false;
      }
      return !!ctx.extra.userId;
    },
    context: (ctx) => ({ userId: ctx.extra.userId }),
  },
  wss,
);
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    for (const c of wss.clients) c.terminate();
    sub.disconnect();
    server.close(() => process.exit(0));
  });
}
