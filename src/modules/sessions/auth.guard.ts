import type { FastifyRequest } from 'fastify';
import type { GraphQLContext } from '../../graphql/context.js';
import type { Authenticated, Principal, Role } from '../../core/request.js';
import { requireRole } from '../identity/account-standing.js';
import type { SessionsService } from './sessions.service.js';

/**
 * The guards of both doors: who is calling (authenticated once per request, however many fields, aliases
 * or hooks ask) and, for operations that need one, whether the caller's current role holds it. The role
 * comes from the session check (the account as stored now), never from the access token.
 */
export class AuthGuard {
  private readonly memo = new WeakMap<object, Promise<Authenticated>>();

  constructor(private readonly sessions: Pick<SessionsService, 'authenticate' | 'checkSession'>) {}

  /** The caller of a GraphQL operation; on a socket, the socket's (authenticated at `connection_init`). */
  principal(ctx: GraphQLContext): Promise<Principal> {
    if (ctx.principal) return Promise.resolve(ctx.principal);
    return this.once(ctx, ctx.authorization);
  }

  /**
   * The caller of a GraphQL operation, if its role holds `role` (ADMIN holds SUPPORT); FORBIDDEN otherwise.
   * Over HTTP the role is this request's session check's. On a socket it is read again at each call (one
   * MGET), since the socket's own was read when it connected: a subscription that calls this for each event
   * it delivers stops at the first event after a role change (a disable closes the socket outright: it ends
   * the account's sessions).
   */
  async requireRole(ctx: GraphQLContext, role: Role): Promise<Authenticated> {
    const caller = ctx.principal ? await this.sessions.checkSession(ctx.principal.userId, ctx.principal.sessionId) : await this.once(ctx, ctx.authorization);
    return requireRole(caller, role);
  }

  /** REST: the caller of this request, authenticated once however many hooks and handlers ask. */
  request(req: FastifyRequest): Promise<Authenticated> {
    return this.once(req, req.headers.authorization);
  }

  /** REST: a preHandler that lets through only callers whose current role holds `role` (FORBIDDEN otherwise). */
  requireRoleHook(role: Role): (req: FastifyRequest) => Promise<void> {
    return async (req) => {
      requireRole(await this.request(req), role);
    };
  }

  private once(key: object, authorization: string | undefined): Promise<Authenticated> {
    let p = this.memo.get(key);
    if (!p) {
      p = this.sessions.authenticate(authorization);
      this.memo.set(key, p);
    }
    return p;
  }
}
