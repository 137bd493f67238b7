import { Field, ID, ObjectType } from 'type-graphql';
import type { LiveSession } from './sessions.repository.js';

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
