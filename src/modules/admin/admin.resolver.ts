import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { Role } from '../../infra/db/enums.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { Session } from '../sessions/sessions.inputs.js';
import { AdminUser, AdminUserConnection, UserFilter } from './admin.inputs.js';
import type { AdminService } from './admin.service.js';

/**
 * The operator API. Each operation lets SUPPORT and ADMIN callers through to the service, which checks the
 * role the operation needs (ADMIN_OPERATIONS) on the caller's role as stored now.
 */
@Resolver()
export class AdminResolver {
  constructor(
    private readonly admin: AdminService,
    private readonly auth: AuthGuard,
  ) {}

  private caller(ctx: GraphQLContext) {
    return this.auth.requireRole(ctx, 'SUPPORT');
  }

  @Query(() => AdminUserConnection, { description: 'Accounts, newest first (SUPPORT, ADMIN)' })
  async users(
    @Arg('filter', () => UserFilter, { nullable: true }) filter: UserFilter | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AdminUserConnection> {
    const input = { ...withoutNulls({ ...filter }), first: first ?? 20, ...(after ? { after } : {}) };
    const page = await this.admin.users(await this.caller(ctx), input, ctx.meta);
    return Object.assign(new AdminUserConnection(), {
      edges: page.edges.map((e) => ({ cursor: e.cursor, node: AdminUser.from(e.node) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      totalCount: page.totalCount,
    });
  }

  @Query(() => AdminUser, { nullable: true, description: 'One account; null when there is none with this id (SUPPORT, ADMIN)' })
  async user(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AdminUser | null> {
    const user = await this.admin.user(await this.caller(ctx), id, ctx.meta);
    return user && AdminUser.from(user);
  }

  @Query(() => [Session], { description: "An account's live sessions, most recently used first (SUPPORT, ADMIN)" })
  async userSessions(@Arg('userId', () => ID) userId: string, @Ctx() ctx: GraphQLContext): Promise<Session[]> {
    const caller = await this.caller(ctx);
    return (await this.admin.userSessions(caller, userId, ctx.meta)).map((s) => Session.from(s, caller.sessionId));
  }

  @Mutation(() => AdminUser, { description: 'The account can no longer sign in, and every session of it ends at once (ADMIN)' })
  async disableUser(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AdminUser> {
    return AdminUser.from(await this.admin.disableUser(await this.caller(ctx), { id, ...(reason === null ? {} : { reason }) }, ctx.meta));
  }

  @Mutation(() => AdminUser, { description: 'The account may sign in again (ADMIN)' })
  async enableUser(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AdminUser> {
    return AdminUser.from(await this.admin.enableUser(await this.caller(ctx), id, ctx.meta));
  }

  @Mutation(() => Boolean, { description: 'Erase the account; its email and username become free (ADMIN)' })
  async deleteUser(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.admin.deleteUser(await this.caller(ctx), id, ctx.meta);
    return true;
  }

  @Mutation(() => Int, { description: "End every session of the account; returns how many ended (SUPPORT, ADMIN)" })
  async revokeUserSessions(@Arg('userId', () => ID) userId: string, @Ctx() ctx: GraphQLContext): Promise<number> {
    return this.admin.revokeUserSessions(await this.caller(ctx), userId, ctx.meta);
  }

  @Mutation(() => AdminUser, { description: 'Turn the second factor off, for an owner who lost it and every recovery code (ADMIN)' })
  async resetUserMfa(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AdminUser> {
    return AdminUser.from(await this.admin.resetUserMfa(await this.caller(ctx), id, ctx.meta));
  }

  @Mutation(() => AdminUser, { description: 'Lift every lockout of the account, as the unlock link does (SUPPORT, ADMIN)' })
  async unlockUser(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<AdminUser> {
    return AdminUser.from(await this.admin.unlockUser(await this.caller(ctx), id, ctx.meta));
  }

  @Mutation(() => AdminUser, { description: 'Set the account\'s role; the last ADMIN cannot be demoted (ADMIN)' })
  async setUserRole(@Arg('id', () => ID) id: string, @Arg('role', () => Role) role: Role, @Ctx() ctx: GraphQLContext): Promise<AdminUser> {
    return AdminUser.from(await this.admin.setUserRole(await this.caller(ctx), { id, role }, ctx.meta));
  }
}

/** GraphQL's explicit nulls as absent fields (the service's schema takes absent, not null). */
const withoutNulls = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
