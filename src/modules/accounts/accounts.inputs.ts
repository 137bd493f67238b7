import { createUnionType, Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { AuthPayload } from '../sessions/sessions.inputs.js';

export enum MfaMethod {
  TOTP = 'TOTP',
  RECOVERY_CODE = 'RECOVERY_CODE',
}
registerEnumType(MfaMethod, { name: 'MfaMethod', description: 'A second factor accepted by `completeMfaLogin`' });

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
