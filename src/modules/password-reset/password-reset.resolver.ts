import { Arg, Ctx, Field, InputType, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { RateLimited } from '../../graphql/rate-limit.js';
import { resetRequestLimit } from './password-reset.limits.js';
import type { PasswordResetService } from './password-reset.service.js';

@InputType()
export class ResetPasswordInput {
  @Field(() => String) token!: string;
  @Field(() => String) newPassword!: string;
}

@Resolver()
export class PasswordResetResolver {
  constructor(private readonly reset: PasswordResetService) {}

  @Mutation(() => Boolean, { description: 'Email a reset link; true whether or not the address is known' })
  @RateLimited(resetRequestLimit)
  async requestPasswordReset(@Arg('email', () => String) email: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.reset.request({ email }, ctx.meta);
    return true;
  }

  @Mutation(() => Boolean, { description: 'Set a new password with the token from the reset email; ends every session' })
  async resetPassword(@Arg('input', () => ResetPasswordInput) input: ResetPasswordInput, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.reset.confirm({ ...input }, ctx.meta);
    return true;
  }
}
