import { Arg, Authorized, Ctx, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { Role } from '../../core/request.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { AppError } from '../../infra/errors.js';
import type { Topics } from '../../infra/pubsub.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { AuditEntry, AuditEntryConnection, AuditLogFilter } from './audit.inputs.js';
import type { AuditService } from './audit.service.js';

@Resolver()
export class AuditResolver {
  constructor(
    private readonly audit: AuditService,
    private readonly auth: AuthGuard,
  ) {}

  @Query(() => AuditEntryConnection, { description: 'The audit log, newest first (SUPPORT, ADMIN)' })
  async auditLog(
    @Arg('filter', () => AuditLogFilter, { nullable: true }) filter: AuditLogFilter | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: 50 }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuditEntryConnection> {
    await this.auth.requireRole(ctx, 'SUPPORT');
    const page = await this.audit.page({ filter: filter ? { ...filter } : null, first: first ?? 50, after });
    return {
      edges: page.edges.map((e) => ({ cursor: e.cursor, node: AuditEntry.from(e.node) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }

  // The role is checked when subscribing and again for every entry delivered (`@Authorized`, backed by
  // AuthGuard.requireRole on the socket's current state): a demoted operator stops receiving at once.
  @Subscription(() => AuditEntry, {
    description: 'Every new audit entry, whichever instance it happens on (SUPPORT, ADMIN)',
    topics: 'auditEvent',
    topicId: ({ context }: { context: GraphQLContext }) => {
      if (!context.principal) throw new AppError('UNAUTHENTICATED', 'Subscriptions need an access token in connectionParams.authorization');
      return 'all';
    },
  })
  @Authorized<Role>('SUPPORT')
  auditEvent(@Root() entry: Topics['auditEvent']): AuditEntry {
    return AuditEntry.from(entry);
  }
}
