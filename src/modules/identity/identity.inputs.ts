import { Field, ID, ObjectType } from 'type-graphql';
import type { UserProfile } from './users.repository.js';

@ObjectType({ simpleResolvers: true, description: 'An account' })
export class User {
  @Field(() => ID) id!: string;
  @Field(() => String) username!: string;
  @Field(() => String) email!: string;
  @Field(() => Boolean) emailVerified!: boolean;
  @Field(() => Boolean) mfaEnabled!: boolean;
  @Field(() => Date) createdAt!: Date;

  static from(u: UserProfile): User {
    return Object.assign(new User(), {
      id: u.id,
      username: u.username,
      email: u.email,
      emailVerified: u.emailVerifiedAt !== null,
      mfaEnabled: u.mfaEnabledAt !== null,
      createdAt: u.createdAt,
    });
  }
}
