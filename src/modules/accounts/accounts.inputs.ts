import { createUnionType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { UserProfile } from './accounts.repository.js';

export enum MfaMethod {
  TOTP = 'TOTP',
  RECOVERY_CODE = 'RECOVERY_CODE',
}
registerEnumType(MfaMethod, { name: 'MfaMethod', description: 'A second factor accepted by `completeMfaLogin`' });

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

@ObjectType({ simpleResolvers: true, description: 'Tokens for a new or refreshed session' })
export class AuthPayload {
  @Field(() => String, { description: 'ES256 JWT; send as `Authorization: Bearer <token>`' }) accessToken!: string;
  @Field(() => String, { description: 'Opaque and single use: `refresh` returns a new pair' }) refreshToken!: string;
  @Field(() => String) tokenType!: string;
  @Field(() => Int, { description: 'Seconds until the access token expires' }) expiresIn!: number;
  @Field(() => User) user!: User;
}

@ObjectType({ simpleResolvers: true, description: 'Login needs a second factor: send the code with `completeMfaLogin`' })
export class MfaChallenge {
  @Field(() => String) mfaToken!: string;
  @Field(() => [MfaMethod]) methods!: MfaMethod[];
}

export const LoginResult = createUnionType({
  name: 'LoginResult',
  types: () => [AuthPayload, MfaChallenge] as const,
  resolveType: (value) => ('accessToken' in value ? AuthPayload : MfaChallenge),
});

@InputType()
export class RegisterInput {
  @Field(() => String) username!: string;
  @Field(() => String) email!: string;
  @Field(() => String) password!: string;
}

@InputType({ description: 'Sign in by username or email' })
export class LoginInput {
  @Field(() => String, { description: 'Username or email' }) identifier!: string;
  @Field(() => String) password!: string;
}

@InputType()
export class ChangePasswordInput {
  @Field(() => String) currentPassword!: string;
  @Field(() => String) newPassword!: string;
  @Field(() => String, { nullable: true, description: 'A current TOTP or recovery code; required when two-factor sign-in is on' })
  code?: string | null;
}
