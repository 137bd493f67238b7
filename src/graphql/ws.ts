import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, validate, specifiedRules, type ExecutionArgs, type GraphQLSchema, type ValidationRule } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { isAppError } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { Limits } from '../infra/rate-limit.js';
import type { Authenticated } from '../modules/sessions/sessions.service.js';
import type { GraphQLContext } from './context.js';
import { formatGraphQLError } from './errors.js';
import { DOCUMENT_LIMITS } from './limits.js';

/** Close codes a client can act on (graphql-ws uses 44xx for protocol-level refusals). */
export const WS_CLOSE = {
  unauthorized: 4401, // missing, bad or expired token, or the session ended: sign in again
  forbiddenOrigin: 4403,
  tooManyConnections: 4429,
  unavailable: 1013, // try again later (Redis or PostgreSQL unreachable)
  goingAway: 1001,
} as const;

export interface WsOptions {
  server: Server;
  schema: GraphQLSchema;
  log: Logger;
  /** Verifies `connectionParams.authorization` (signature and live session). */
  authenticate(authorization: string | undefined): Promise<Authenticated>;
  /** Re-checks a session when its known lifetime runs out (it may have been refreshed meanwhile). */
  recheck(principal: Authenticated): Promise<Authenticated>;
  /** Sessions ending anywhere (any instance): their sockets close here. */
  sessionEnded: AsyncIterableIterator<{ sessionId: string; reason: string }>;
  isAllowedOrigin(origin: string): boolean;
  limits: Limits;
  /** Extra validation rules (depth, cost, aliases) shared with the HTTP door. */
  rules?: readonly ValidationRule[];
  maxPayloadBytes?: number;
  maxConnectionsPerUser?: number;
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
  expiry?: NodeJS.Timeout;
}

let connectionSeq = 0;
/** setTimeout's ceiling; longer session lifetimes are re-armed when it fires. */
const MAX_TIMER_MS = 2_147_000_000;

/** graphql-transport-ws on `/graphql` of the HTTP server: subscriptions only (CONTRACT.md §3). */
export function attachGraphQLWs(opts: WsOptions): GraphQLWsServer {
  const { server, schema, log, rules = [], maxPayloadBytes = 64 * 1024, maxConnectionsPerUser = 20 } = opts;
  const bySession = new Map<string, Set<WebSocket>>();
  const perUser = new Map<string, number>();
  const states = new WeakMap<WebSocket, SocketState>();

  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: maxPayloadBytes,
    // Browsers always send Origin; a foreign one is a cross-site socket riding the user's network position.
    verifyClient: ({ origin }: { origin?: string }) => !origin || opts.isAllowedOrigin(origin),
  });

  const forget = (socket: WebSocket) => {
    const state = states.get(socket);
    if (!state?.principal) return;
    clearTimeout(state.expiry);
    const { sessionId, userId } = state.principal;
    bySession.get(sessionId)?.delete(socket);
    if (bySession.get(sessionId)?.size === 0) bySession.delete(sessionId);
    const n = (perUser.get(userId) ?? 1) - 1;
    if (n > 0) perUser.set(userId, n);
    else perUser.delete(userId);
    state.principal = undefined;
  };

  /** Closes the socket when its session's known lifetime ends, unless a re-check finds it extended. */
  const armExpiry = (socket: WebSocket, state: SocketState) => {
    const principal = state.principal;
    if (!principal) return;
    clearTimeout(state.expiry);
    state.expiry = setTimeout(async () => {
      if (principal.liveUntil > Date.now()) return armExpiry(socket, state);
      try {
        state.principal = await opts.recheck(principal);
        armExpiry(socket, state);
      } catch {
        socket.close(WS_CLOSE.unauthorized, 'Session expired');
      }
    }, Math.min(Math.max(0, principal.liveUntil - Date.now()), MAX_TIMER_MS));
    state.expiry.unref();
  };

  // One Redis subscription per instance: a session ended anywhere closes its sockets here.
  const watching = (async () => {
    for await (const { sessionId, reason } of opts.sessionEnded) {
      for (const socket of bySession.get(sessionId) ?? []) socket.close(WS_CLOSE.unauthorized, `Session ended (${reason})`);
    }
  })().catch((err: unknown) => log.error({ err }, 'session-ended watcher stopped'));

  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    const ua = req.headers['user-agent'];
    states.set(socket, {
      connectionId: `ws-${process.pid}-${++connectionSeq}`,
      ip: req.socket.remoteAddress ?? 'unknown',
      userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
    });
    socket.once('close', () => forget(socket));
  });

  const cleanup = useServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>(
    {
      schema,
      async onConnect(ctx) {
        const socket = ctx.extra.socket;
        const state = states.get(socket);
        if (!state) return false;
        // GraphiQL sends its Headers editor as connectionParams, where people write `Authorization`.
        const params = ctx.connectionParams ?? {};
        const authorization = params.authorization ?? params.Authorization;
        let principal: Authenticated;
        try {
          principal = await opts.authenticate(typeof authorization === 'string' ? authorization : undefined);
        } catch (err) {
          if (isAppError(err) && err.code === 'SERVICE_UNAVAILABLE') socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
          else socket.close(WS_CLOSE.unauthorized, 'Unauthorized: send connectionParams.authorization = "Bearer <accessToken>"');
          return false;
        }
        if ((perUser.get(principal.userId) ?? 0) >= maxConnectionsPerUser) {
          socket.close(WS_CLOSE.tooManyConnections, 'Too many open connections for this account');
          return false;
        }
        if (socket.readyState !== socket.OPEN) return false;
        state.principal = principal;
        perUser.set(principal.userId, (perUser.get(principal.userId) ?? 0) + 1);
        if (!bySession.has(principal.sessionId)) bySession.set(principal.sessionId, new Set());
        bySession.get(principal.sessionId)!.add(socket);
        armExpiry(socket, state);
        return true;
      },
      onSubscribe(ctx, _id, payload): ExecutionArgs | readonly GraphQLError[] {
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
        const state = states.get(ctx.extra.socket)!;
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
    },
    wss,
  );
  return {
    wss,
    get connections() {
      let n = 0;
      for (const c of perUser.values()) n += c;
      return n;
    },
    async close() {
      for (const socket of wss.clients) socket.close(WS_CLOSE.goingAway, 'Server shutting down');
      await cleanup.dispose();
      await opts.sessionEnded.return?.();
      await watching;
    },
  };
}
