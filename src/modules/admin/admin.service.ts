import type { Authenticated, RequestMeta, Role } from '../../core/request.js';
import { AppError } from '../../infra/errors.js';
import { byAddress } from '../../infra/limit-spec.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import { holdsRole, requireRole } from '../identity/account-standing.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import type { LiveSession } from '../sessions/sessions.repository.js';
import type { AccountLifecycle } from './account-lifecycle.js';
import { adminLimit } from './admin.limits.js';
import type { AdminRepository, AdminUserRecord, UserCursor } from './admin.repository.js';
import { disableSchema, listUsersSchema, setRoleSchema, userIdSchema } from './admin.schema.js';

/**
 * Every operation of the admin API and the role it needs (each role holds the ones before it). The one
 * table both doors are checked against, on the server, at every call; anyone else gets FORBIDDEN.
 */
export const ADMIN_OPERATIONS = {
  users: 'SUPPORT',
  user: 'SUPPORT',
  userSessions: 'SUPPORT',
  revokeUserSessions: 'SUPPORT',
  unlockUser: 'SUPPORT',
  disableUser: 'ADMIN',
  enableUser: 'ADMIN',
  deleteUser: 'ADMIN',
  resetUserMfa: 'ADMIN',
  setUserRole: 'ADMIN',
} as const satisfies Record<string, Role>;

export type AdminOperation = keyof typeof ADMIN_OPERATIONS;

export interface AdminUserPage {
  edges: { cursor: string; node: AdminUserRecord }[];
  hasNextPage: boolean;
  endCursor: string | null;
  totalCount: number;
}

export interface AdminDeps {
  repo: AdminRepository;
  lifecycle: AccountLifecycle;
  sessions: Pick<SessionsService, 'list'>;
  limits: Pick<Limits, 'consumeAll'>;
  now?: () => Date;
}

/** Opaque to clients; inside, the keyset position (created_at, id) of an account. */
const encodeCursor = (u: AdminUserRecord) => Buffer.from(`${u.createdAt.toISOString()}|${u.id}`).toString('base64url');

function decodeCursor(cursor: string): UserCursor {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('BAD_USER_INPUT', 'The cursor is not one this API gave out', { fields: { after: 'is not a valid cursor' } });
  }
  return { createdAt, id };
}

/**
 * The operator API over accounts (GraphQL and `/v1/admin` REST alike): who may (ADMIN_OPERATIONS, against
 * the caller's role as stored now), how often (`adminLimit`), the reads, and the changes, which the
 * account lifecycle makes with the operator as actor.
 */
export class AdminService {
  private readonly now: () => Date;

  constructor(private readonly deps: AdminDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Accounts, newest first, filtered by a prefix of username or email, a role, and whether disabled. */
  async users(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<AdminUserPage> {
    await this.authorize(caller, 'users', meta);
    const { query, role, disabled, first, after } = parseInput(listUsersSchema, input);
    const filter = { ...(query ? { prefix: query } : {}), ...(role ? { role } : {}), ...(disabled === undefined ? {} : { disabled }) };
    const { rows, totalCount } = await this.deps.repo.list(filter, first + 1, after ? decodeCursor(after) : undefined, this.now());
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null, totalCount };
  }

  /** One account; null when there is none with this id. */
  async user(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<AdminUserRecord | null> {
    await this.authorize(caller, 'user', meta);
    return this.deps.repo.find(parseInput(userIdSchema, { id }).id, this.now());
  }

  /** The account's live sessions, most recently used first (none for an unknown id). */
  async userSessions(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<LiveSession[]> {
    await this.authorize(caller, 'userSessions', meta);
    return this.deps.sessions.list(parseInput(userIdSchema, { id }).id);
  }

  async disableUser(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<AdminUserRecord> {
    await this.authorize(caller, 'disableUser', meta);
    const { id, reason } = parseInput(disableSchema, input);
    await this.deps.lifecycle.disable(id, reason || null, caller.userId, meta);
    return this.current(id);
  }

  async enableUser(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<AdminUserRecord> {
    await this.authorize(caller, 'enableUser', meta);
    const input = parseInput(userIdSchema, { id });
    await this.deps.lifecycle.enable(input.id, caller.userId, meta);
    return this.current(input.id);
  }

  async deleteUser(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<void> {
    await this.authorize(caller, 'deleteUser', meta);
    await this.deps.lifecycle.erase(parseInput(userIdSchema, { id }).id, caller.userId, meta, 'admin.user_deleted');
  }

  /** Ends every session of the account; returns how many ended. */
  async revokeUserSessions(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<number> {
    await this.authorize(caller, 'revokeUserSessions', meta);
    const input = parseInput(userIdSchema, { id });
    await this.notAbove(caller, input.id);
    return this.deps.lifecycle.revokeSessions(input.id, caller.userId, meta);
  }

  async resetUserMfa(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<AdminUserRecord> {
    await this.authorize(caller, 'resetUserMfa', meta);
    const input = parseInput(userIdSchema, { id });
    await this.deps.lifecycle.resetMfa(input.id, caller.userId, meta);
    return this.current(input.id);
  }

  async unlockUser(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<AdminUserRecord> {
    await this.authorize(caller, 'unlockUser', meta);
    const input = parseInput(userIdSchema, { id });
    await this.notAbove(caller, input.id);
    await this.deps.lifecycle.unlock(input.id, caller.userId, meta);
    return this.current(input.id);
  }

  async setUserRole(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<AdminUserRecord> {
    await this.authorize(caller, 'setUserRole', meta);
    const { id, role } = parseInput(setRoleSchema, input);
    await this.deps.lifecycle.setRole(id, role, caller.userId, meta);
    return this.current(id);
  }

  /** The role first (FORBIDDEN tells nothing of the input), then the operator's budget. */
  private async authorize(caller: Authenticated, op: AdminOperation, meta: RequestMeta): Promise<void> {
    requireRole(caller, ADMIN_OPERATIONS[op]);
    await this.deps.limits.consumeAll(adminLimit({ actorId: caller.userId }, byAddress(meta.ip)));
  }

  /**
   * The changes SUPPORT may make (ending sessions, unlocking) reach no account above it: a SUPPORT account
   * cannot sign the administrators out, again and again. (An unknown id passes: the change says so.)
   */
  private async notAbove(caller: Authenticated, id: string): Promise<void> {
    if (caller.role === 'ADMIN') return;
    const role = await this.deps.repo.roleOf(id);
    if (role !== null && !holdsRole(caller.role, role)) throw new AppError('FORBIDDEN', 'Your account may not act on an account with a higher role');
  }

  /** The account as a change left it (gone meanwhile: as for an unknown id). */
  private async current(id: string): Promise<AdminUserRecord> {
    const user = await this.deps.repo.find(id, this.now());
    if (!user) throw new AppError('BAD_USER_INPUT', 'No account has this id', { fields: { id: 'no such account' } });
    return user;
  }
}
