import type { GraphQLContext } from '../../graphql/context.js';
import type { Principal } from '../../core/request.js';
import type { SessionsService } from './sessions.service.js';

/** Authenticates a GraphQL call once per request, however many fields ask (aliases included). */
export class AuthGuard {
  private readonly memo = new WeakMap<GraphQLContext, Promise<Principal>>();

  constructor(private readonly sessions: SessionsService) {}

  principal(ctx: GraphQLContext): Promise<Principal> {
    if (ctx.principal) return Promise.resolve(ctx.principal);
    let p = this.memo.get(ctx);
    if (!p) {
      p = this.sessions.authenticate(ctx.authorization);
      this.memo.set(ctx, p);
    }
    return p;
  }
}
