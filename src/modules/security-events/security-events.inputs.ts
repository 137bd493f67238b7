import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { SecurityEventType } from '../../infra/db/enums.js';
import type { Topics } from '../../infra/pubsub.js';
import type { StoredSecurityEvent } from './security-events.repository.js';

// The database's enum is the API's (one list, no copy to keep in step). Its values are public API:
// renaming one is a breaking change (docs/api.md, "Real-time events").
registerEnumType(SecurityEventType, { name: 'SecurityEventType', description: 'What happened to the account' });

@ObjectType({ simpleResolvers: true, description: 'Something that happened to your account' })
export class SecurityEvent {
  @Field(() => ID) id!: string;
  @Field(() => SecurityEventType) type!: SecurityEventType;
  @Field(() => Date) occurredAt!: Date;
  @Field(() => ID, { nullable: true, description: 'The session concerned (the new one for SIGNED_IN, the ended one otherwise)' })
  sessionId!: string | null;
  @Field(() => String, { nullable: true }) ip!: string | null;
  @Field(() => String, { nullable: true }) userAgent!: string | null;
  @Field(() => Date, { nullable: true }) readAt!: Date | null;

  static from(e: StoredSecurityEvent | Topics['securityEvent']): SecurityEvent {
    return Object.assign(new SecurityEvent(), {
      id: e.id,
      type: e.type,
      occurredAt: new Date(e.occurredAt),
      sessionId: e.sessionId,
      ip: e.ip,
      userAgent: e.userAgent,
      readAt: e.readAt ? new Date(e.readAt) : null,
    });
  }
}

@ObjectType({ simpleResolvers: true })
export class SecurityEventEdge {
  @Field(() => String) cursor!: string;
  @Field(() => SecurityEvent) node!: SecurityEvent;
}

@ObjectType({ simpleResolvers: true })
export class PageInfo {
  @Field(() => Boolean) hasNextPage!: boolean;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
}

@ObjectType({ simpleResolvers: true })
export class SecurityEventConnection {
  @Field(() => [SecurityEventEdge]) edges!: SecurityEventEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
