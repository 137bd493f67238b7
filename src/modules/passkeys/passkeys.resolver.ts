import { JSONResolver } from 'graphql-scalars';
import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { AuthPayload, toAuthPayload } from '../sessions/sessions.inputs.js';
import { Passkey, PasskeyChallenge } from './passkeys.inputs.js';
import type { PasskeysService } from './passkeys.service.js';

@Resolver()
export class PasskeysResolver {
  constructor(
    private readonly service: PasskeysService,
    private readonly auth: AuthGuard,
  ) {}

  @Query(() => [Passkey], { description: 'Your passkeys, oldest first' })
  async passkeys(@Ctx() ctx: GraphQLContext): Promise<Passkey[]> {
    return (await this.service.list(await this.auth.principal(ctx))).map(Passkey.from);
  }

  @Mutation(() => PasskeyChallenge, { description: 'Options for navigator.credentials.create(). Needs a recent sign-in, and a current code when MFA is on' })
  async startPasskeyRegistration(@Arg('code', () => String, { nullable: true }) code: string | null, @Ctx() ctx: GraphQLContext): Promise<PasskeyChallenge> {
    return PasskeyChallenge.from(await this.service.startRegistration(await this.auth.principal(ctx), { code }, ctx.meta));
  }

  @Mutation(() => Passkey, { description: "Store the new passkey: `response` is the created credential's JSON (toJSON())" })
  async finishPasskeyRegistration(
    @Arg('challengeId', () => ID) challengeId: string,
    @Arg('response', () => JSONResolver) response: unknown,
    @Arg('name', () => String, { nullable: true }) name: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Passkey> {
    return Passkey.from(await this.service.finishRegistration(await this.auth.principal(ctx), { challengeId, response, name }, ctx.meta));
  }

  @Mutation(() => Boolean, { description: 'Remove one of your passkeys; false when you have no such passkey' })
  async deletePasskey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.service.delete(await this.auth.principal(ctx), { id }, ctx.meta);
  }

  @Mutation(() => PasskeyChallenge, { description: 'Options for navigator.credentials.get(); without an identifier any passkey of this site may answer' })
  async startPasskeyLogin(@Arg('identifier', () => String, { nullable: true }) identifier: string | null, @Ctx() ctx: GraphQLContext): Promise<PasskeyChallenge> {
    return PasskeyChallenge.from(await this.service.startLogin({ identifier }, ctx.meta));
  }

  @Mutation(() => AuthPayload, { description: "Sign in with a passkey: `response` is the asserted credential's JSON (toJSON())" })
  async finishPasskeyLogin(@Arg('challengeId', () => ID) challengeId: string, @Arg('response', () => JSONResolver) response: unknown, @Ctx() ctx: GraphQLContext): Promise<AuthPayload> {
    return toAuthPayload(await this.service.finishLogin({ challengeId, response }, ctx.meta));
  }
}
