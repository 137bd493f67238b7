import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { RateLimited } from '../../graphql/rate-limit.js';
import { registerLimit } from './accounts.limits.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { AuthPayload } from '../sessions/sessions.inputs.js';
import type { AccountLock } from './account-lock.js';
import type { AccountsService } from './accounts.service.js';
import { ChangePasswordInput, LoginInput, LoginResult, MfaChallenge, RegisterInput } from './accounts.inputs.js';

@Resolver()
export class AccountsResolver {
  constructor(
    private readonly accounts: AccountsService,
    private readonly lock: Pick<AccountLock, 'unlock'>,
    private readonly auth: AuthGuard,
    private readonly cookies: SessionCookies,
  ) {}

  @Mutation(() => AuthPayload, { description: 'Create an account and sign in' })
  @RateLimited<{ input: RegisterInput }>(registerLimit, (args) => args.input)
  async register(@Arg('input', () => RegisterInput) input: RegisterInput, @Ctx() ctx: GraphQLContext): Promise<AuthPayload> {
    return this.cookies.payload(ctx.http, () => this.accounts.register({ ...input }, ctx.meta));
  }

  // Its limits are counted by the service (AccountsService.login), which audits a refusal.
  @Mutation(() => LoginResult, { description: 'Sign in by username or email' })
  async login(@Arg('input', () => LoginInput) input: LoginInput, @Ctx() ctx: GraphQLContext): Promise<typeof LoginResult> {
    const result = await this.cookies.payload(ctx.http, () => this.accounts.login({ ...input }, ctx.meta));
    if ('mfaRequired' in result) return Object.assign(new MfaChallenge(), { mfaToken: result.mfaToken, methods: result.methods });
    return result;
  }

  @Mutation(() => Boolean, { description: 'Lift a lockout with the token from the account-locked email' })
  async unlockAccount(@Arg('token', () => String) token: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.lock.unlock({ token }, ctx.meta);
    return true;
  }

  @Mutation(() => Boolean, {
    description:
      'Prove it is you again: the password, plus a current TOTP or recovery code when two-factor sign-in is on. Sensitive operations answer REAUTHENTICATION_REQUIRED unless the session signed in or passed this recently (REAUTH_MAX_AGE_SECONDS)',
  })
  async reauthenticate(
    @Arg('password', () => String) password: string,
    @Arg('code', () => String, { nullable: true }) code: string | null | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await this.accounts.reauthenticate(await this.auth.principal(ctx), { password, code: code ?? undefined }, ctx.meta);
    return true;
  }

  @Mutation(() => Boolean, { description: 'Needs the current password; ends every other session' })
  async changePassword(@Arg('input', () => ChangePasswordInput) input: ChangePasswordInput, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.accounts.changePassword(await this.auth.principal(ctx), { ...input, code: input.code ?? undefined }, ctx.meta);
    return true;
  }
}
