import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { AccountLifecycle } from './account-lifecycle.js';

/** The owner's own door to erasure: the same erasure as an operator's `deleteUser`. */
@Resolver()
export class AccountDeletionResolver {
  constructor(
    private readonly lifecycle: AccountLifecycle,
    private readonly auth: AuthGuard,
  ) {}

  @Mutation(() => Boolean, {
    description:
      'Erase your account: needs a recent sign-in, your password and, when two-factor sign-in is on, a current code. Every session ends; the email and username become free',
  })
  async deleteAccount(
    @Arg('password', () => String) password: string,
    @Arg('code', () => String, { nullable: true }) code: string | null | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await this.lifecycle.deleteOwnAccount(await this.auth.principal(ctx), { password, ...(code ? { code } : {}) }, ctx.meta);
    return true;
  }
}
