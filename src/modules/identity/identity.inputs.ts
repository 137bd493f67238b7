import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Role } from '../../infra/db/enums.js';
import type { UserProfile } from './users.repository.js';

// The database's enum is the API's, as for SecurityEventType. Its values are public API: do not rename.
registerEnumType(Role, {
  name: 'Role',
  description: 'What an account may do beyond its own affairs; each role holds the ones before it',
  valuesConfig: {
    USER: { description: 'Its own account only' },
    SUPPORT: { description: 'Helps other accounts (holds USER)' },
    ADMIN: { description: 'Administers the service (holds SUPPORT)' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'An account' })
export class User {
  @Field(() => ID) id!: string;
  @Field(() => String) username!: string;
  @Field(() => String) email!: string;
  @Field(() => Boolean) emailVerified!: boolean;
  @Field(() => Boolean) mfaEnabled!: boolean;
  @Field(() => Role, { description: 'As stored now: a change takes effect on the next call' }) role!: Role;
  @Field(() => Date) createdAt!: Date;

  static from(u: UserProfile): User {
    return Object.assign(new User(), {
      id: u.id,
      username: u.username,
      email: u.email,
      emailVerified: u.emailVerifiedAt !== null,
      mfaEnabled: u.mfaEnabledAt !== null,
      role: u.role,
      createdAt: u.createdAt,
    });
  }
}
