import { AppError } from '../../infra/errors.js';
import type { Principal } from '../../core/request.js';
import { parseProfile, type ProfileCache } from './profile-cache.js';
import type { UserProfile, UserRecord, UsersRepository } from './users.repository.js';

export interface IdentityDeps {
  users: Pick<UsersRepository, 'findById' | 'findProfile'>;
  profiles: Pick<ProfileCache, 'key' | 'fill' | 'invalidate'>;
}

/** The accounts themselves, as every flow reads them. Knows nothing of HTTP or GraphQL. */
export class IdentityService {
  constructor(private readonly deps: IdentityDeps) {}

  /** The caller's account: as the session check of this call read it (no other lookup), else PostgreSQL. */
  async me(principal: Principal & { account?: UserProfile }): Promise<UserProfile> {
    if (principal.account?.id === principal.userId) return principal.account;
    return this.account(principal.userId);
  }

  /** The account behind a session; UNAUTHENTICATED once it no longer exists. */
  async account(userId: string): Promise<UserRecord> {
    const user = await this.deps.users.findById(userId);
    if (!user) throw new AppError('UNAUTHENTICATED', 'The account no longer exists');
    return user;
  }

  /** The Redis key of the account's cached state, which the session check reads with the session's own key. */
  cacheKey(userId: string): string {
    return this.deps.profiles.key(userId);
  }

  /**
   * The account's current state for a session check: from `cached` (what the session check's MGET found
   * under `cacheKey`, null on a miss), else from PostgreSQL, then cached for the next call. Null when the
   * account no longer exists.
   */
  async current(userId: string, cached: string | null): Promise<UserProfile | null> {
    const hit = cached === null ? null : parseProfile(cached);
    if (hit?.id === userId) return hit;
    const profile = await this.deps.users.findProfile(userId);
    if (profile) await this.deps.profiles.fill(profile, cached);
    return profile;
  }

  /**
   * The hook every change to an account's role, standing or profile calls once it has committed: the next
   * call of every session of the account reads the new state. Throws SERVICE_UNAVAILABLE when the change
   * could not be made visible (retry it); see ProfileCache for why nothing stale outlives it.
   */
  accountChanged(userId: string): Promise<void> {
    return this.deps.profiles.invalidate(userId, { strict: true });
  }
}
