import { Ctx, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { User } from './identity.inputs.js';
import type { IdentityService } from './identity.service.js';

@Resolver()
export class IdentityResolver {
  constructor(
    private readonly identity: IdentityService,
    private readonly auth: AuthGuard,
  ) {}

  @Query(() => User, { description: 'The signed-in user' })
  async me(@Ctx() ctx: GraphQLContext): Promise<User> {
    return User.from(await this.identity.me(await this.auth.principal(ctx)));
  }
}
