import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { RateLimited } from '../../graphql/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthGuard } from './auth.guard.js';
import type { SessionCookies } from './session-cookie.guard.js';
import { AuthPayload, Session } from './sessions.inputs.js';
import { refreshLimit } from './sessions.limits.js';
import { logoutSchema, refreshSchema, sessionIdSchema } from './sessions.schema.js';
import type { SessionsService } from './sessions.service.js';

@Resolver()
export class SessionsResolver {
  constructor(
    private readonly sessions: SessionsService,
    private readonly auth: AuthGuard,
    private readonly cookies: SessionCookies,
  ) {}

  @Mutation(() => AuthPayload, {
    description: 'Trade a refresh token (single use) for a new pair. In cookie mode (`X-Latchkey-Session: cookie`) leave it out: the session cookie carries it',
  })
  @RateLimited(refreshLimit)
  async refresh(
    @Arg('refreshToken', () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthPayload> {
    const given = refreshToken === null || refreshToken === undefined ? undefined : parseInput(refreshSchema, { refreshToken }).refreshToken;
    const token = this.cookies.presented(given, ctx.http) ?? parseInput(refreshSchema, {}).refreshToken;
    return this.cookies.payload(ctx.http, () => this.sessions.refresh(token, ctx.meta));
  }

  @Mutation(() => Boolean, { description: 'End this session, or every session with `allSessions: true`. In cookie mode the session cookie names the session, and is cleared' })
  async logout(
    @Arg('allSessions', () => Boolean, { nullable: true, defaultValue: false }) allSessions: boolean | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const bearer = { present: ctx.authorization !== undefined || ctx.principal !== undefined, principal: () => this.auth.principal(ctx) };
    await this.cookies.logout(ctx.http, bearer, parseInput(logoutSchema, { allSessions: allSessions ?? false }).allSessions, ctx.meta);
    return true;
  }

  @Query(() => [Session], { name: 'sessions', description: "The signed-in user's live sessions" })
  async sessionsList(@Ctx() ctx: GraphQLContext): Promise<Session[]> {
    const principal = await this.auth.principal(ctx);
    return (await this.sessions.list(principal.userId)).map((s) => Session.from(s, principal.sessionId));
  }

  @Mutation(() => Boolean, { description: 'End one of your sessions; false when you have no such live session' })
  async revokeSession(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.sessions.revokeOne(await this.auth.principal(ctx), parseInput(sessionIdSchema, { id }).id, ctx.meta);
  }

  @Mutation(() => Int, { description: 'End every session but this one; returns how many ended' })
  async revokeOtherSessions(@Ctx() ctx: GraphQLContext): Promise<number> {
    return this.sessions.revokeOthers(await this.auth.principal(ctx), ctx.meta);
  }
}
