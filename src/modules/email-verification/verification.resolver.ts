import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { User } from '../identity/identity.inputs.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { EmailVerificationService } from './verification.service.js';

@Resolver()
export class EmailVerificationResolver {
  constructor(
    private readonly verification: EmailVerificationService,
    private readonly auth: AuthGuard,
  ) {}

  @Mutation(() => User, { description: 'Activate the address with the token from the verification email' })
  async verifyEmail(@Arg('token', () => String) token: string, @Ctx() ctx: GraphQLContext): Promise<User> {
    return User.from(await this.verification.verify({ token }, ctx.meta));
  }

  @Mutation(() => Boolean, { description: 'Send a fresh verification link; false when the address is already verified' })
  async resendVerificationEmail(@Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.verification.resend(await this.auth.principal(ctx));
  }
}
