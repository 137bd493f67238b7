import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, validate, specifiedRules, type ExecutionArgs, type GraphQLSchema, type ValidationRule } from 'graphql';
import { CloseCode, handleProtocols, makeServer, MessageType, stringifyMessage, type PingMessage } from 'graphql-ws';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AppError, isAppError } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Limits } from '../infra/rate-limit.js';
import { byAddress } from '../infra/limit-spec.js';
import type { Authenticated, TokenAuthenticated } from '../core/request.js';
import type { GraphQLContext } from './context.js';
import { formatGraphQLError } from './errors.js';
import { DOCUMENT_LIMITS } from './limits.js';

/** Close codes a client can act on (graphql-ws uses 44xx for protocol-level refusals). */
export const WS_CLOSE = {
  unauthorized: 4401, // missing, bad or expired token, the session ended, or the access token expired un-renewed: sign in again
  forbiddenOrigin: 4403,
  tooManyConnections: 4429,
  rateLimited: 4008, // the per-IP request budget is spent: reconnect after the seconds the reason gives
  unavailable: 1013, // try again later (Redis or PostgreSQL unreachable)
  tooSlow: 1013, // try again later: the client read too slowly and its send buffer passed the cap
  goingAway: 1001,
} as const;

/** A subscribe refused because the socket already carries the most it may (see README). */
export const TOO_MANY_SUBSCRIPTIONS = 'TOO_MANY_SUBSCRIPTIONS';

/** Per-socket bounds: fixed (what one client needs is far below them), not settings. */
export const WS_DEFAULTS = {
  /** Active subscriptions on one socket. */
  maxSubscriptionsPerSocket: 10,
  /** Subscribe messages one socket may send per window. */
  subscribeRate: { points: 30, windowSeconds: 60 },
  /** Bytes queued for a client that reads too slowly before the socket closes with 1013. */
  maxBufferedBytes: 1024 * 1024,
  /** Protocol-level ping every so often; a socket that does not answer within as long is cut. */
  keepAliveMs: 12_000,
} as const;

export interface WsOptions {
  server: Server;
  schema: GraphQLSchema;
  log: Logger;
  /** Verifies `connectionParams.authorization` (signature and live session), and a re-authenticating ping's. */
  authenticate(authorization: string | undefined): Promise<TokenAuthenticated>;
  /** Re-checks a session when its known lifetime runs out (it may have been refreshed meanwhile). */
  recheck(principal: Authenticated): Promise<Authenticated>;
  /** Sessions ending anywhere (any instance): their sockets close here. */
  sessionEnded: AsyncIterableIterator<{ sessionId: string; reason: string }>;
  isAllowedOrigin(origin: string): boolean;
  /** The client's address for an upgrade request, by the same TRUST_PROXY rules as HTTP requests. */
  clientIp(request: IncomingMessage): string;
  limits: Limits;
  /** Extra validation rules (depth, cost, aliases) shared with the HTTP door. */
  rules?: readonly ValidationRule[];
  maxPayloadBytes?: number;
  maxConnectionsPerUser?: number;
  maxSubscriptionsPerSocket?: number;
  subscribeRate?: { points: number; windowSeconds: number };
  maxBufferedBytes?: number;
  keepAliveMs?: number;
}

export interface GraphQLWsServer {
  readonly wss: WebSocketServer;
  /** Open authenticated sockets on this instance. */
  readonly connections: number;
  /** Closes every socket with 1001 (going away) and stops accepting new ones. */
  close(): Promise<void>;
}

interface SocketState {
  connectionId: string;
  ip: string;
  userAgent: string | null;
  principal?: Authenticated;
  /** Until when (epoch ms) the newest access token this socket authenticated with is valid. */
  tokenExpiresAt: number;
  expiry?: NodeJS.Timeout;
  /** connection_init's authentication, then each re-authentication, while in flight. */
  authenticating?: Promise<unknown>;
}

let connectionSeq = 0;
/** setTimeout's ceiling; longer session lifetimes are re-armed when it fires. */
const MAX_TIMER_MS = 2_147_000_000;

/**
 * graphql-transport-ws on `/graphql` of the HTTP server: subscriptions only.
 *
 * graphql-ws's protocol engine (`makeServer`) runs over a small `ws` adapter of our own rather than
 * `graphql-ws/use/ws`, because the adapter is where three bounds live that the stock one cannot hold:
 * every inbound message is charged to the per-IP budget *before* the engine sees it (the socket stops
 * reading meanwhile, so nothing queues unread), a send never waits for the client (a slow reader
 * fills its own buffer, capped, instead of stalling the subscription and piling events up in the
 * pub/sub iterator ahead of it), and a ping can carry a fresh access token without it being echoed.
 */
export function attachGraphQLWs(opts: WsOptions): GraphQLWsServer {
  const { server, schema, log, rules = [], maxPayloadBytes = 64 * 1024, maxConnectionsPerUser = 20 } = opts;
  const {
    maxSubscriptionsPerSocket = WS_DEFAULTS.maxSubscriptionsPerSocket,
    subscribeRate = WS_DEFAULTS.subscribeRate,
    maxBufferedBytes = WS_DEFAULTS.maxBufferedBytes,
    keepAliveMs = WS_DEFAULTS.keepAliveMs,
  } = opts;
  const bySession = new Map<string, Set<WebSocket>>();
  const perUser = new Map<string, number>();
  const states = new WeakMap<WebSocket, SocketState>();
  // Per socket, so in memory: a socket lives on one instance.
  const subscribes = new RateLimiterMemory({ points: subscribeRate.points, duration: subscribeRate.windowSeconds });

  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: maxPayloadBytes,
    handleProtocols,
    // Browsers always send Origin; a foreign one is a cross-site socket riding the user's network position.
    verifyClient: ({ origin }: { origin?: string }) => !origin || opts.isAllowedOrigin(origin),
  });
  wss.on('error', (err) => log.error({ err }, 'WebSocket server error'));

  const forget = (socket: WebSocket) => {
    const state = states.get(socket);
    if (!state) return;
    clearTimeout(state.expiry);
    void subscribes.delete(state.connectionId);
    if (!state.principal) return;
    const { sessionId, userId } = state.principal;
    bySession.get(sessionId)?.delete(socket);
    if (bySession.get(sessionId)?.size === 0) bySession.delete(sessionId);
    const n = (perUser.get(userId) ?? 1) - 1;
    if (n > 0) perUser.set(userId, n);
    else perUser.delete(userId);
    state.principal = undefined;
  };

  /** Why an authentication failed, as the close a client can act on. */
  const refuse = (socket: WebSocket, err: unknown, reason: string) => {
    if (isAppError(err) && err.code === 'SERVICE_UNAVAILABLE') socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
    else socket.close(WS_CLOSE.unauthorized, reason);
  };

  /**
   * Closes the socket when its access token expires (unless a newer one of the same session arrived in a
   * ping meanwhile), or when its session's known lifetime ends (unless a re-check finds it extended).
   */
  const armExpiry = (socket: WebSocket, state: SocketState) => {
    const principal = state.principal;
    if (!principal) return;
    clearTimeout(state.expiry);
    const until = Math.min(principal.liveUntil, state.tokenExpiresAt);
    state.expiry = setTimeout(async () => {
      await state.authenticating; // a re-authentication racing the expiry gets its answer first
      const current = state.principal;
      if (!current || socket.readyState !== socket.OPEN) return;
      const now = Date.now();
      if (state.tokenExpiresAt <= now) return socket.close(WS_CLOSE.unauthorized, 'Access token expired: re-authenticate on the socket before it expires');
      if (current.liveUntil > now) return armExpiry(socket, state);
      try {
        state.principal = await opts.recheck(current);
        armExpiry(socket, state);
      } catch {
        socket.close(WS_CLOSE.unauthorized, 'Session expired');
      }
    }, Math.min(Math.max(0, until - Date.now()), MAX_TIMER_MS));
    state.expiry.unref();
  };

  /**
   * A ping carrying `authorization`: a newer access token of the socket's own session extends the
   * socket to that token's expiry. Anything else (bad or expired token, another session's or user's,
   * an ended session) closes the socket with 4401. Resolves the token expiry now in force, or undefined.
   */
  const reauthenticate = (socket: WebSocket, state: SocketState, authorization: unknown): Promise<number | undefined> => {
    const previous = state.authenticating; // one at a time, in arrival order
    const done = (async () => {
      await previous;
      if (!state.principal) {
        socket.close(WS_CLOSE.unauthorized, 'Authenticate in connection_init first');
        return undefined;
      }
      let next: TokenAuthenticated;
      try {
        next = await opts.authenticate(typeof authorization === 'string' ? authorization : undefined);
      } catch (err) {
        refuse(socket, err, 'Re-authentication refused: sign in again');
        return undefined;
      }
      const current = state.principal;
      if (!current) return undefined; // closed meanwhile
      if (next.userId !== current.userId || next.sessionId !== current.sessionId) {
        socket.close(WS_CLOSE.unauthorized, 'Re-authenticate with an access token of the same session');
        return undefined;
      }
      state.principal = next;
      state.tokenExpiresAt = Math.max(state.tokenExpiresAt, next.accessTokenExpiresAt);
      armExpiry(socket, state);
      return state.tokenExpiresAt;
    })();
    state.authenticating = done;
    return done;
  };

  /**
   * Sends without waiting for the client to read: what a slow client has not read accumulates in its
   * socket's buffer, and past `maxBufferedBytes` the socket closes with 1013. Events therefore never
   * wait in the pub/sub iterator (each is taken as soon as it arrives), so nothing grows ahead of this.
   */
  const send = (socket: WebSocket, state: SocketState, data: string) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount + Buffer.byteLength(data) > maxBufferedBytes) {
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

  // One Redis subscription per instance: a session ended anywhere closes its sockets here.
  const watching = (async () => {
    for await (const { sessionId, reason } of opts.sessionEnded) {
      for (const socket of bySession.get(sessionId) ?? []) socket.close(WS_CLOSE.unauthorized, `Session ended (${reason})`);
    }
  })().catch((err: unknown) => log.error({ err }, 'session-ended watcher stopped'));

  const engine = makeServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>({
    schema,
    async onConnect(ctx) {
      const socket = ctx.extra.socket;
      const state = states.get(socket);
      if (!state) return false;
      // GraphiQL sends its Headers editor as connectionParams, where people write `Authorization`.
      const params = ctx.connectionParams ?? {};
      const authorization = params.authorization ?? params.Authorization;
      let principal: TokenAuthenticated;
      const authenticating = opts.authenticate(typeof authorization === 'string' ? authorization : undefined);
      state.authenticating = authenticating.catch(() => undefined);
      try {
        principal = await authenticating;
      } catch (err) {
        refuse(socket, err, 'Unauthorized: send connectionParams.authorization = "Bearer <accessToken>"');
        return false;
      }
      if ((perUser.get(principal.userId) ?? 0) >= maxConnectionsPerUser) {
        socket.close(WS_CLOSE.tooManyConnections, 'Too many open connections for this account');
        return false;
      }
      if (socket.readyState !== socket.OPEN) return false;
      state.principal = principal;
      state.tokenExpiresAt = principal.accessTokenExpiresAt;
      perUser.set(principal.userId, (perUser.get(principal.userId) ?? 0) + 1);
      if (!bySession.has(principal.sessionId)) bySession.set(principal.sessionId, new Set());
      bySession.get(principal.sessionId)!.add(socket);
      armExpiry(socket, state);
      return true;
    },
    async onSubscribe(ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> {
      const state = states.get(ctx.extra.socket)!;
      try {
        await subscribes.consume(state.connectionId);
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const limited = new AppError('RATE_LIMITED', 'Too many subscribe requests on this socket', { retryAfter: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) });
        return [new GraphQLError(limited.message, { extensions: limited.publicExtensions })];
      }
      // `ctx.subscriptions` already holds this one's id.
      if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerSocket) {
        return [new GraphQLError(`At most ${maxSubscriptionsPerSocket} active subscriptions per socket; complete one first`, { extensions: { code: TOO_MANY_SUBSCRIPTIONS } })];
      }
      let document;
      try {
        document = parse(payload.query, { maxTokens: DOCUMENT_LIMITS.maxTokens });
      } catch (e) {
        return [e instanceof GraphQLError ? e : new GraphQLError('Malformed query')];
      }
      const errors = validate(schema, document, [...specifiedRules, ...rules]);
      if (errors.length > 0) return errors;
      const op = getOperationAST(document, payload.operationName);
      if (!op) return [new GraphQLError('Name the operation to run', { extensions: { code: 'BAD_USER_INPUT' } })];
      if (op.operation !== 'subscription') {
        return [new GraphQLError('Only subscriptions go over the WebSocket; send queries and mutations over HTTP', { extensions: { code: 'BAD_REQUEST' } })];
      }
      const contextValue: GraphQLContext = {
        log: log.child({ connectionId: state.connectionId }),
        meta: { requestId: state.connectionId, ip: state.ip, userAgent: state.userAgent },
        authorization: undefined,
        limits: opts.limits,
        ...(state.principal ? { principal: { userId: state.principal.userId, sessionId: state.principal.sessionId } } : {}),
      };
      return { schema, document, variableValues: payload.variables ?? undefined, operationName: payload.operationName ?? undefined, contextValue };
    },
    onNext(_ctx, _id, _payload, _args, result) {
      if ('errors' in result && result.errors) {
        const errors = result.errors.map((e) => {
          const f = formatGraphQLError(e.toJSON(), e);
          return new GraphQLError(f.message, { nodes: e.nodes, path: e.path, extensions: f.extensions });
        });
        return { ...result, errors };
      }
      return undefined;
    },
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
            const until = await reauthenticate(socket, state, authorization);
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
      forget(socket);
      closed(code, String(reason)).catch((err: unknown) => log.error({ err, connectionId: state.connectionId }, 'WebSocket clean-up failed'));
    });
  });

  return {
    wss,
    get connections() {
      let n = 0;
      for (const c of perUser.values()) n += c;
      return n;
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
