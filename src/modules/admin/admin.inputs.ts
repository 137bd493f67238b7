import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { Role } from '../../infra/db/enums.js';
import { PageInfo } from '../security-events/security-events.inputs.js';
import type { AdminUserRecord } from './admin.repository.js';

@ObjectType({ simpleResolvers: true, description: 'An account as operators see it (SUPPORT and ADMIN)' })
export class AdminUser {
  @Field(() => ID) id!: string;
  @Field(() => String) username!: string;
  @Field(() => String) email!: string;
  @Field(() => Boolean) emailVerified!: boolean;
  @Field(() => Boolean) mfaEnabled!: boolean;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Role) role!: Role;
  @Field(() => Date, { nullable: true, description: 'Set while the account may not sign in or hold a session' }) disabledAt!: Date | null;
  @Field(() => String, { nullable: true, description: 'What the operator who disabled it gave as the reason' }) disabledReason!: string | null;
  @Field(() => Date, { nullable: true, description: 'While the account-wide lockout lasts (sign-ins from unknown devices refused)' })
  lockedUntil!: Date | null;
  @Field(() => Date, { nullable: true, description: 'The last sign-in (or sign-up) that opened a session' }) lastSignInAt!: Date | null;
  @Field(() => Int, { description: 'Live sessions' }) activeSessions!: number;

  static from(u: AdminUserRecord): AdminUser {
    return Object.assign(new AdminUser(), adminUserJson(u));
  }
}

/** The same account as the REST routes answer it (dates as ISO strings once serialised). */
export const adminUserJson = (u: AdminUserRecord) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  emailVerified: u.emailVerifiedAt !== null,
  mfaEnabled: u.mfaEnabledAt !== null,
  createdAt: u.createdAt,
  role: u.role,
  disabledAt: u.disabledAt,
  disabledReason: u.disabledReason,
  lockedUntil: u.lockedUntil,
  lastSignInAt: u.lastSignInAt,
  activeSessions: u.activeSessions,
});

@ObjectType({ simpleResolvers: true })
export class AdminUserEdge {
  @Field(() => String) cursor!: string;
  @Field(() => AdminUser) node!: AdminUser;
}

@ObjectType({ simpleResolvers: true })
export class AdminUserConnection {
  @Field(() => [AdminUserEdge]) edges!: AdminUserEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
  @Field(() => Int, { description: 'Accounts matching the filter, over every page' }) totalCount!: number;
}

@InputType({ description: 'Which accounts to list; every field narrows the list' })
export class UserFilter {
  @Field(() => String, { nullable: true, description: 'A prefix of the username or of the email, without regard to case' })
  query?: string | null;
  @Field(() => Role, { nullable: true }) role?: Role | null;
  @Field(() => Boolean, { nullable: true, description: 'Only disabled accounts (true) or only the others (false)' }) disabled?: boolean | null;
}
