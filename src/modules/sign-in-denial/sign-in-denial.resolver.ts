import { Arg, Ctx, Field, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { SignInDenialService, SignInToDeny as SignInToDenyData } from './sign-in-denial.service.js';

@ObjectType({ simpleResolvers: true, description: 'The sign-in a "this wasn\'t me" link concerns' })
export class SignInToDeny {
  @Field(() => Date) signedInAt!: Date;
  @Field(() => String, { nullable: true, description: 'While its session lives' }) ip!: string | null;
  @Field(() => String, { nullable: true, description: 'While its session lives' }) userAgent!: string | null;
  @Field(() => Boolean, { description: 'Whether its session still lives' }) active!: boolean;

  static from(d: SignInToDenyData): SignInToDeny {
    return Object.assign(new SignInToDeny(), d);
  }
}

@Resolver()
export class SignInDenialResolver {
  constructor(private readonly denial: SignInDenialService) {}

  @Query(() => SignInToDeny, { description: 'What the token of a new sign-in notice concerns, without using it (INVALID_TOKEN unless usable). No session needed' })
  async signInToDeny(@Arg('token', () => String) token: string): Promise<SignInToDeny> {
    return SignInToDeny.from(await this.denial.preview({ token }));
  }

  @Mutation(() => Boolean, {
    description: "\"This wasn't me\": with the token of a new sign-in notice, ends that session at once everywhere and emails the owner what to do next. No session needed",
  })
  async denySignIn(@Arg('token', () => String) token: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.denial.deny({ token }, ctx.meta);
    return true;
  }
}
