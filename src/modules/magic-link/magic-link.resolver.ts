import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { RateLimited } from '../../graphql/rate-limit.js';
import { LoginResult, MfaChallenge } from '../accounts/accounts.inputs.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { magicLinkRequestLimit } from './magic-link.limits.js';
import type { MagicLinkService } from './magic-link.service.js';

@Resolver()
export class MagicLinkResolver {
  constructor(
    private readonly magicLink: MagicLinkService,
    private readonly cookies: SessionCookies,
  ) {}

  @Mutation(() => Boolean, { description: 'Email a sign-in link; true whether or not the address is known' })
  @RateLimited(magicLinkRequestLimit)
  async requestMagicLink(@Arg('email', () => String) email: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.magicLink.request({ email }, ctx.meta);
    return true;
  }

  @Mutation(() => LoginResult, { description: 'Sign in with the token of a magic-link email; answers like login, and verifies the address' })
  async signInWithMagicLink(@Arg('token', () => String) token: string, @Ctx() ctx: GraphQLContext): Promise<typeof LoginResult> {
    const result = await this.cookies.payload(ctx.http, () => this.magicLink.signIn({ token }, ctx.meta));
    if ('mfaRequired' in result) return Object.assign(new MfaChallenge(), { mfaToken: result.mfaToken, methods: result.methods });
    return result;
  }
}
