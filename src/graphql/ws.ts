import type { Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, validate, specifiedRules, type ExecutionArgs, type GraphQLSchema, type ValidationRule } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../infra/logger.js';
import type { GraphQLContext } from './context.js';
import { formatGraphQLError } from './errors.js';

export interface WsOptions {
  server: Server;
  schema: GraphQLSchema;
  log: Logger;
  /** Extra validation rules (depth, cost, aliases) shared with the HTTP door. */
  rules?: readonly ValidationRule[];
  maxPayloadBytes?: number;
}

export interface GraphQLWsServer {
  readonly wss: WebSocketServer;
  /** Closes every socket with 1001 (going away) and stops accepting new ones. */
  close(): Promise<void>;
}

let connectionSeq = 0;

/** graphql-transport-ws on `/graphql` of the HTTP server: subscriptions only (CONTRACT.md §3). */
export function attachGraphQLWs({ server, schema, log, rules = [], maxPayloadBytes = 64 * 1024 }: WsOptions): GraphQLWsServer {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: maxPayloadBytes });
  const cleanup = useServer<Record<string, unknown> | undefined, { connectionId: string; ip: string; userAgent: string | null }>(
    {
      schema,
      onConnect(ctx) {
        const req = ctx.extra.request;
        const ua = req.headers['user-agent'];
        Object.assign(ctx.extra, {
          connectionId: `ws-${process.pid}-${++connectionSeq}`,
          ip: req.socket.remoteAddress ?? 'unknown',
          userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
        });
        return true;
      },
      onSubscribe(ctx, _id, payload): ExecutionArgs | readonly GraphQLError[] {
        let document;
        try {
          document = parse(payload.query, { maxTokens: 2_000 });
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
        const extra = ctx.extra as unknown as { connectionId: string; ip: string; userAgent: string | null };
        const params = ctx.connectionParams ?? {};
        const contextValue: GraphQLContext = {
          log: log.child({ connectionId: extra.connectionId }),
          meta: { requestId: extra.connectionId, ip: extra.ip, userAgent: extra.userAgent },
          authorization: typeof params.authorization === 'string' ? params.authorization : undefined,
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
    async close() {
      for (const socket of wss.clients as Set<WebSocket>) socket.close(1001, 'Server shutting down');
      await cleanup.dispose();
    },
  };
}
