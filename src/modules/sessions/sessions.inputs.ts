import { Field, ID, Int, ObjectType } from 'type-graphql';
import { User } from '../identity/identity.inputs.js';
import type { UserProfile } from '../identity/users.repository.js';
import type { LiveSession } from './sessions.repository.js';
import type { IssuedTokens } from './sessions.service.js';

@ObjectType({ simpleResolvers: true, description: 'A signed-in device or client' })
export class Session {
  @Field(() => ID, { description: "The access token's `sid`" }) id!: string;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Date) lastUsedAt!: Date;
  @Field(() => Date) expiresAt!: Date;
  @Field(() => String, { nullable: true }) ip!: string | null;
  @Field(() => String, { nullable: true }) userAgent!: string | null;
  @Field(() => Boolean, { description: 'The session making this request' }) current!: boolean;

  static from(s: LiveSession, currentId: string): Session {
    return Object.assign(new Session(), {
      id: s.id,
      createdAt: s.createdAt,
      lastUsedAt: s.lastUsedAt,
      expiresAt: s.expiresAt,
      ip: s.ip,
      userAgent: s.userAgent,
      current: s.id === currentId,
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

/** A new or refreshed session as GraphQL answers it (register, login, completeMfaLogin, refresh). */
export const toAuthPayload = (r: IssuedTokens & { user: UserProfile }): AuthPayload =>
  Object.assign(new AuthPayload(), { accessToken: r.accessToken, refreshToken: r.refreshToken, tokenType: r.tokenType, expiresIn: r.expiresIn, user: User.from(r.user) });

/** The same payload as the REST routes answer it (docs/api.md, "REST routes"). */
export const authPayloadJson = (r: IssuedTokens & { user: UserProfile }) => ({
  accessToken: r.accessToken,
  refreshToken: r.refreshToken,
  tokenType: r.tokenType,
  expiresIn: r.expiresIn,
  user: User.from(r.user),
});
