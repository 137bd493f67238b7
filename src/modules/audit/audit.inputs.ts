import { JSONResolver } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { AuditOutcome } from '../../infra/db/enums.js';
import { PageInfo } from '../security-events/security-events.inputs.js';
import type { AuditTopicPayload, StoredAuditEntry } from './audit-entry.js';

// The database's enum is the API's (one list, no copy to keep in step).
registerEnumType(AuditOutcome, { name: 'AuditOutcome', description: 'Whether the audited action succeeded' });

@ObjectType({ simpleResolvers: true, description: 'One security-relevant action, as the append-only audit log keeps it' })
export class AuditEntry {
  @Field(() => ID) id!: string;
  @Field(() => Date) occurredAt!: Date;
  @Field(() => String, { description: 'A dotted action name such as user.signed_in (docs/audit.md lists them)' }) action!: string;
  @Field(() => AuditOutcome) outcome!: AuditOutcome;
  @Field(() => ID, { nullable: true, description: 'Who acted: the account itself, an operator, or null for the system' }) actorId!: string | null;
  @Field(() => ID, { nullable: true, description: 'The account concerned (null for an identifier that names no account)' }) targetUserId!: string | null;
  @Field(() => ID, { nullable: true }) sessionId!: string | null;
  @Field(() => String, { nullable: true }) ip!: string | null;
  @Field(() => String, { nullable: true }) userAgent!: string | null;
  @Field(() => String, { nullable: true }) requestId!: string | null;
  @Field(() => JSONResolver, { nullable: true, description: 'What else the action records (never a password, token, code or secret)' }) details!: unknown;

  static from(e: StoredAuditEntry | AuditTopicPayload): AuditEntry {
    return Object.assign(new AuditEntry(), { ...e, occurredAt: new Date(e.occurredAt), details: e.details ?? null });
  }
}

@ObjectType({ simpleResolvers: true })
export class AuditEntryEdge {
  @Field(() => String) cursor!: string;
  @Field(() => AuditEntry) node!: AuditEntry;
}

@ObjectType({ simpleResolvers: true })
export class AuditEntryConnection {
  @Field(() => [AuditEntryEdge]) edges!: AuditEntryEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@InputType({ description: 'Every field narrows the log; since is inclusive, until exclusive' })
export class AuditLogFilter {
  @Field(() => String, { nullable: true }) action?: string | null;
  @Field(() => ID, { nullable: true }) actorId?: string | null;
  @Field(() => ID, { nullable: true }) targetUserId?: string | null;
  @Field(() => String, { nullable: true }) ip?: string | null;
  @Field(() => AuditOutcome, { nullable: true }) outcome?: AuditOutcome | null;
  @Field(() => Date, { nullable: true }) since?: Date | null;
  @Field(() => Date, { nullable: true }) until?: Date | null;
}
