import { Arg, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { AppError } from '../../infra/errors.js';
import type { Topics } from '../../infra/pubsub.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { SecurityEvent, SecurityEventConnection } from './security-events.inputs.js';
import type { SecurityEventsService } from './security-events.service.js';

@Resolver()
export class SecurityEventsResolver {
  constructor(
    private readonly events: SecurityEventsService,
    private readonly auth: AuthGuard,
  ) {}

  @Query(() => SecurityEventConnection, { description: "Your account's security events, newest first" })
  async securityEvents(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SecurityEventConnection> {
    const page = await this.events.page(await this.auth.principal(ctx), { first: first ?? 20, after });
    return {
      edges: page.edges.map((e) => ({ cursor: e.cursor, node: SecurityEvent.from(e.node) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }

  @Mutation(() => Int, { description: 'Mark your events read; returns how many changed' })
  async markSecurityEventsRead(@Arg('ids', () => [ID]) ids: string[], @Ctx() ctx: GraphQLContext): Promise<number> {
    return this.events.markRead(await this.auth.principal(ctx), ids);
  }

  @Subscription(() => SecurityEvent, {
    description: "Your account's security events as they happen, on whichever instance they occur",
    topics: 'securityEvent',
    // Scoped to the authenticated user's own channel: another user's events never reach this socket.
    topicId: ({ context }: { context: GraphQLContext }) => {
      if (!context.principal) throw new AppError('UNAUTHENTICATED', 'Subscriptions need an access token in connectionParams.authorization');
      return context.principal.userId;
    },
  })
  securityEvent(@Root() event: Topics['securityEvent']): SecurityEvent {
    return SecurityEvent.from(event);
  }
}
