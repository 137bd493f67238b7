import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { AuthPayload } from '../sessions/sessions.inputs.js';
import { CompleteMfaLoginInput, TotpEnrollment } from './mfa.inputs.js';
import type { MfaService } from './mfa.service.js';

@Resolver()
export class MfaResolver {
  constructor(
    private readonly mfa: MfaService,
    private readonly auth: AuthGuard,
    private readonly cookies: SessionCookies,
  ) {}

  @Mutation(() => TotpEnrollment, { description: 'Begin TOTP enrollment; nothing is active until confirmed. Needs a verified email and a recent sign-in (see reauthenticate)' })
  async startTotpEnrollment(@Ctx() ctx: GraphQLContext): Promise<TotpEnrollment> {
    return Object.assign(new TotpEnrollment(), await this.mfa.startEnrollment(await this.auth.principal(ctx)));
  }

  @Mutation(() => [String], { description: 'Turn TOTP on with a valid code; returns recovery codes, shown once. Needs a recent sign-in' })
  async confirmTotpEnrollment(@Arg('code', () => String) code: string, @Ctx() ctx: GraphQLContext): Promise<string[]> {
    return this.mfa.confirmEnrollment(await this.auth.principal(ctx), { code }, ctx.meta);
  }

  @Mutation(() => Boolean, { description: 'Turn TOTP off; needs a recent sign-in and a current TOTP or recovery code' })
  async disableTotp(@Arg('code', () => String) code: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.mfa.disable(await this.auth.principal(ctx), { code }, ctx.meta);
    return true;
  }

  @Mutation(() => AuthPayload, { description: "Finish a login that answered MfaChallenge, with a TOTP or recovery code" })
  async completeMfaLogin(@Arg('input', () => CompleteMfaLoginInput) input: CompleteMfaLoginInput, @Ctx() ctx: GraphQLContext): Promise<AuthPayload> {
    return this.cookies.payload(ctx.http, () => this.mfa.completeLogin({ ...input }, ctx.meta));
  }
}
