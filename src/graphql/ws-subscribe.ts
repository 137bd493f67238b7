import { GraphQLError, getOperationAST, parse, validate, specifiedRules, type ExecutionArgs } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../infra/errors.js';
import type { Logger } from '../infra/logger.js';
import type { GraphQLContext } from './context.js';
import { DOCUMENT_LIMITS } from './limits.js';
import { TOO_MANY_SUBSCRIPTIONS, type WsOptions } from './ws-options.js';
import type { SocketState } from './ws-sockets.js';

/**
 * What a `subscribe` message may start: within the socket's subscribe rate and its number of active
 * subscriptions, a document within the shared limits (depth, cost, aliases) that names one subscription.
 */
export function subscribeGate(
  opts: Pick<WsOptions, 'schema' | 'limits'> & { log: Logger; rules: NonNullable<WsOptions['rules']>; maxSubscriptionsPerSocket: number; subscribeRate: { points: number; windowSeconds: number } },
) {
  const { schema, log, rules, maxSubscriptionsPerSocket, subscribeRate } = opts;
  // Per socket, so in memory: a socket lives on one instance.
  const subscribes = new RateLimiterMemory({ points: subscribeRate.points, duration: subscribeRate.windowSeconds });
  return {
    /** `active`: the socket's subscriptions, this one's id already among them. */
    async admit(state: SocketState, active: number, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
      try {
        await subscribes.consume(state.connectionId);
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const limited = new AppError('RATE_LIMITED', 'Too many subscribe requests on this socket', { retryAfter: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) });
        return [new GraphQLError(limited.message, { extensions: limited.publicExtensions })];
      }
      if (active > maxSubscriptionsPerSocket) {
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
    /** A socket closed: its subscribe count goes. */
    forget(state: SocketState) {
      void subscribes.delete(state.connectionId);
    },
  };
}
