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
  @Field(() => String, {
    description: 'Opaque and single use: `refresh` returns a new pair. Empty in cookie mode (`X-Latchkey-Session: cookie`): the token is then in an HttpOnly cookie',
  })
  refreshToken!: string;
  @Field(() => String) tokenType!: string;
  @Field(() => Int, { description: 'Seconds until the access token expires' }) expiresIn!: number;
  @Field(() => User) user!: User;
}

/**
 * A new or refreshed session as GraphQL answers it (register, login, completeMfaLogin, refresh). `mode`:
 * where the refresh token went; doors call it through `SessionCookies.payload`, which decides and sets it.
 */
export const toAuthPayload = (r: IssuedTokens & { user: UserProfile }, mode: 'cookie' | 'bearer'): AuthPayload =>
  Object.assign(new AuthPayload(), {
    accessToken: r.accessToken,
    refreshToken: mode === 'cookie' ? '' : r.refreshToken,
    tokenType: r.tokenType,
    expiresIn: r.expiresIn,
    user: User.from(r.user),
  });

/** The same payload as the REST routes answer it (docs/api.md, "REST routes"); no `refreshToken` in cookie mode. */
export const authPayloadJson = (r: IssuedTokens & { user: UserProfile }, mode: 'cookie' | 'bearer') => ({
  accessToken: r.accessToken,
  ...(mode === 'cookie' ? {} : { refreshToken: r.refreshToken }),
  tokenType: r.tokenType,
  expiresIn: r.expiresIn,
  user: User.from(r.user),
});
