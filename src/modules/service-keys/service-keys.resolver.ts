import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { ServiceKey, ServiceKeySecret } from './service-keys.inputs.js';
import type { ServiceKeysService } from './service-keys.service.js';

/** Service keys for operators (the service checks ADMIN on the caller's role as stored now). */
@Resolver()
export class ServiceKeysResolver {
  constructor(
    private readonly keys: ServiceKeysService,
    private readonly auth: AuthGuard,
  ) {}

  @Query(() => [ServiceKey], { description: 'Every service key, newest first, revoked ones included (ADMIN)' })
  async serviceKeys(@Ctx() ctx: GraphQLContext): Promise<ServiceKey[]> {
    return (await this.keys.list(await this.auth.requireRole(ctx, 'ADMIN'), ctx.meta)).map(ServiceKey.from);
  }

  @Mutation(() => ServiceKeySecret, { description: 'A new key for POST /oauth/introspect; its secret is shown this once (ADMIN)' })
  async createServiceKey(@Arg('name', () => String) name: string, @Ctx() ctx: GraphQLContext): Promise<ServiceKeySecret> {
    const { key, secret } = await this.keys.create(await this.auth.requireRole(ctx, 'ADMIN'), { name }, ctx.meta);
    return Object.assign(new ServiceKeySecret(), { key: ServiceKey.from(key), secret });
  }

  @Mutation(() => Boolean, { description: 'The key stops working at once on every instance; false when unknown or already revoked (ADMIN)' })
  async revokeServiceKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.keys.revoke(await this.auth.requireRole(ctx, 'ADMIN'), id, ctx.meta);
  }
}
