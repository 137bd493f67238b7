import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { SignInDenialService } from './sign-in-denial.service.js';

@Resolver()
export class SignInDenialResolver {
  constructor(private readonly denial: SignInDenialService) {}

  @Mutation(() => Boolean, {
    description: "\"This wasn't me\": with the token of a new sign-in notice, ends that session at once everywhere and emails the owner what to do next. No session needed",
  })
  async denySignIn(@Arg('token', () => String) token: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.denial.deny({ token }, ctx.meta);
    return true;
  }
}
