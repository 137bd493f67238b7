import type { IncomingMessage } from 'node:http';
import { GraphQLError, subscribe, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { CloseCode, handleProtocols, makeServer, MessageType, stringifyMessage, type PingMessage } from 'graphql-ws';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { isAppError } from '../infra/errors.js';
import { byAddress } from '../infra/limit-spec.js';
import { appErrorOf, formatGraphQLError } from './errors.js';
import { createFanout, deliveryKey, type Receiver } from './ws-fanout.js';
import { WS_CLOSE, WS_DEFAULTS, type GraphQLWsServer, type WsOptions } from './ws-options.js';
import { socketSessions, type SocketState } from './ws-sockets.js';
import { subscribeGate } from './ws-subscribe.js';

export { TOO_MANY_SUBSCRIPTIONS, WS_CLOSE, WS_DEFAULTS, type GraphQLWsServer, type WsOptions } from './ws-options.js';

let connectionSeq = 0;

/** A result's errors as clients see them (masked and coded by the one formatter of both doors). */
function formatResult(result: ExecutionResult): ExecutionResult | undefined {
  if (!result.errors) return undefined;
  const errors = result.errors.map((e) => {
    const f = formatGraphQLError(e.toJSON(), e);
    return new GraphQLError(f.message, { nodes: e.nodes, path: e.path, extensions: f.extensions });
  });
  return { ...result, errors };
}

/**
 * graphql-transport-ws on `/graphql` of the HTTP server: subscriptions only.
 *
 * graphql-ws's protocol engine (`makeServer`) runs over a small `ws` adapter of our own rather than
 * `graphql-ws/use/ws`, because the adapter is where three bounds live that the stock one cannot hold:
 * every inbound message is charged to the per-IP budget *before* the engine sees it (the socket stops
 * reading meanwhile, so nothing queues unread), a send never waits for the client (a slow reader
 * fills its own buffer, capped, instead of stalling the subscription and piling events up in the
 * pub/sub iterator ahead of it), and a ping can carry a fresh access token without it being echoed.
 *
 * Subscriptions are executed by delivery group (ws-fanout.ts): the subscriptions of one session running
 * the same operation share one pub/sub subscription, one execution and one serialization per event, and
 * each socket gets the same payload in a frame carrying its own subscription id, through `send` below.
 */
export function attachGraphQLWs(opts: WsOptions): GraphQLWsServer {
  const { server, schema, log, rules = [], maxPayloadBytes = 64 * 1024, maxConnectionsPerUser = 20 } = opts;
  const {
    maxSubscriptionsPerSocket = WS_DEFAULTS.maxSubscriptionsPerSocket,
    subscribeRate = WS_DEFAULTS.subscribeRate,
    maxBufferedBytes = WS_DEFAULTS.maxBufferedBytes,
    keepAliveMs = WS_DEFAULTS.keepAliveMs,
  } = opts;
  const states = new WeakMap<WebSocket, SocketState>();
  const sockets = socketSessions(opts, maxConnectionsPerUser);
  const gate = subscribeGate({ schema, limits: opts.limits, log, rules, maxSubscriptionsPerSocket, subscribeRate });
  const fanout = createFanout({ log, format: (result) => formatResult(result) ?? result });
  /** An admitted subscription's socket, id and delivery group, by the context its execution carries. */
  const routes = new WeakMap<object, { receiver: Receiver; key: string }>();

  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: maxPayloadBytes,
    handleProtocols,
    // Browsers always send Origin; a foreign one is a cross-site socket riding the user's network position.
    verifyClient: ({ origin }: { origin?: string }) => !origin || opts.isAllowedOrigin(origin),
  });
  wss.on('error', (err) => log.error({ err }, 'WebSocket server error'));

  /**
   * Sends without waiting for the client to read: what a slow client has not read accumulates in its
   * socket's buffer, and past `maxBufferedBytes` the socket closes with 1013. Events therefore never
   * wait in the pub/sub iterator (each is taken as soon as it arrives), so nothing grows ahead of this.
   */
  const send = (socket: WebSocket, state: SocketState, data: string, bytes = Buffer.byteLength(data)) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount + bytes > maxBufferedBytes) {
      log.warn({ connectionId: state.connectionId, bufferedAmount: socket.bufferedAmount }, 'WebSocket client reads too slowly: closing it');
      socket.close(WS_CLOSE.tooSlow, 'Client too slow: send buffer full, reconnect');
      return;
    }
    socket.send(data);
  };

  /** Charges one inbound message to the per-IP budget; false (and the socket closing) past it. */
  const admit = async (socket: WebSocket, state: SocketState): Promise<boolean> => {
    try {
      await opts.limits.consume('general', [byAddress(state.ip)]);
      return true;
    } catch (err) {
      if (isAppError(err) && err.code === 'RATE_LIMITED') {
        socket.close(WS_CLOSE.rateLimited, `Rate limited: retry in ${err.retryAfter ?? 1} s`);
      } else {
        log.warn({ err, connectionId: state.connectionId }, 'WebSocket message budget unavailable');
        socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
      }
      return false;
    }
  };

  // Events published while this instance's pub/sub connection was down never arrive: its sockets close.
  opts.pubSubLink?.onInterrupted(() => {
    const closed = sockets.interrupted();
    if (closed > 0) log.warn({ sockets: closed }, 'pub/sub connection to Redis lost: closing WebSockets (clients reconnect and page)');
  });

  // One Redis subscription per instance: a session ended anywhere closes its sockets here.
  const watching = (async () => {
    for await (const { sessionId, reason } of opts.sessionEnded) sockets.sessionEnded(sessionId, reason);
  })().catch((err: unknown) => log.error({ err }, 'session-ended watcher stopped'));

  const engine = makeServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>({
    schema,
    async onConnect(ctx) {
      const socket = ctx.extra.socket;
      const state = states.get(socket);
      if (!state) return false;
      // GraphiQL sends its Headers editor as connectionParams, where people write `Authorization`.
      const params = ctx.connectionParams ?? {};
      return sockets.connect(socket, state, params.authorization ?? params.Authorization);
    },
    async onSubscribe(ctx, id, payload) {
      const socket = ctx.extra.socket;
      const state = states.get(socket)!;
      const admitted = await gate.admit(state, Object.keys(ctx.subscriptions).length, payload);
      if ('schema' in admitted && state.principal) {
        const receiver: Receiver = { id, send: (frame, bytes) => send(socket, state, frame, bytes) };
        routes.set(admitted.contextValue as object, { receiver, key: deliveryKey(state.principal, payload) });
      }
      return admitted;
    },
    subscribe(args: ExecutionArgs) {
      const route = routes.get(args.contextValue as object);
      return route ? fanout.join(route.key, args, route.receiver) : subscribe(args);
    },
    // What still goes through graphql-ws's own emit: a refusal at subscribe time.
    onNext: (_ctx, _id, _payload, _args, result) => formatResult(result),
    // A stream that ended in an error (e.g. its pub/sub backlog overflowed: SERVICE_UNAVAILABLE, pubsub.ts)
    // reaches the client as an `error` message, coded and masked by the same formatter.
    // Only errors of ours: graphql-ws's own (a refused document) keep their shape.
    onError: (_ctx, _id, _payload, errors) => (errors.some((e) => appErrorOf(e)) ? errors.map((e) => formatGraphQLError(e.toJSON(), e)) : undefined),
  });

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const ua = request.headers['user-agent'];
    const state: SocketState = {
      connectionId: `ws-${process.pid}-${++connectionSeq}`,
      ip: opts.clientIp(request),
      userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
      tokenExpiresAt: 0,
    };
    states.set(socket, state);
    // ws reports protocol violations (oversized or malformed frames) here after closing with the fitting code.
    socket.on('error', (err) => log.debug({ err, connectionId: state.connectionId }, 'WebSocket protocol error'));

    let dispatch: ((data: string) => Promise<void>) | undefined;
    const closed = engine.opened(
      {
        protocol: socket.protocol,
        send: (data) => send(socket, state, data),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) => {
          dispatch = cb;
        },
        // Replaces graphql-ws's pong, which echoes the ping's payload: it must not echo a token back.
        onPing: async (payload: PingMessage['payload']) => {
          const authorization = payload?.authorization ?? payload?.Authorization;
          let reply = payload;
          if (authorization !== undefined) {
            const until = await sockets.reauthenticate(socket, state, authorization);
            if (until === undefined) return;
            reply = { accessTokenExpiresAt: new Date(until).toISOString() };
          }
          send(socket, state, stringifyMessage(reply ? { type: MessageType.Pong, payload: reply } : { type: MessageType.Pong }));
        },
      },
      { socket, request },
    );

    // Every inbound message is charged to the per-IP budget before the engine sees it, in arrival order.
    // The socket stops reading while charges are pending, so at most one read's worth of messages waits.
    let waiting = 0;
    let turn = Promise.resolve();
    socket.on('message', (data: RawData) => {
      const text = String(data);
      if (++waiting === 1) socket.pause();
      turn = turn.then(async () => {
        const admitted = socket.readyState === socket.OPEN && (await admit(socket, state));
        if (--waiting === 0) socket.resume();
        if (!admitted || !dispatch || socket.readyState !== socket.OPEN) return;
        // A subscribe's handler resolves only when the subscription ends: never awaited here.
        dispatch(text).catch((err: unknown) => {
          log.error({ err, connectionId: state.connectionId }, 'WebSocket message handling failed');
          socket.close(CloseCode.InternalServerError, 'Internal server error');
        });
      });
    });

    // Protocol-level keep-alive, as graphql-ws's own adapter does: a peer that stops answering is cut.
    let pongWait: NodeJS.Timeout | undefined;
    const keepAlive = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait ??= setTimeout(() => socket.terminate(), keepAliveMs);
      socket.once('pong', () => {
        clearTimeout(pongWait);
        pongWait = undefined;
      });
      socket.ping();
    }, keepAliveMs);

    socket.once('close', (code: number, reason: Buffer) => {
      clearInterval(keepAlive);
      clearTimeout(pongWait);
      sockets.forget(socket, state);
      gate.forget(state);
      closed(code, String(reason)).catch((err: unknown) => log.error({ err, connectionId: state.connectionId }, 'WebSocket clean-up failed'));
    });
  });

  return {
    wss,
    get connections() {
      return sockets.connections;
    },
    get deliveryGroups() {
      return fanout.groups;
    },
    async close() {
      for (const socket of wss.clients) socket.close(WS_CLOSE.goingAway, 'Server shutting down');
      wss.removeAllListeners('connection');
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
      await opts.sessionEnded.return?.();
      await watching;
    },
  };
}
