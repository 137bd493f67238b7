import { AppError } from '../../infra/errors.js';
import type { Principal } from '../../core/request.js';
import { parseProfile, type ProfileCache } from './profile-cache.js';
import type { UserProfile, UserRecord, UsersRepository } from './users.repository.js';

export interface IdentityDeps {
  users: UsersRepository;
  profiles: Pick<ProfileCache, 'set'>;
}

/** The accounts themselves, as every flow reads them. Knows nothing of HTTP or GraphQL. */
export class IdentityService {
  constructor(private readonly deps: IdentityDeps) {}

  /** The caller's account: from the profile cached beside the session when there is one, else PostgreSQL. */
  async me(principal: Principal & { cachedProfile?: string }): Promise<UserProfile> {
    const cached = principal.cachedProfile ? parseProfile(principal.cachedProfile) : null;
    if (cached?.id === principal.userId) return cached;
    const user = await this.account(principal.userId);
    await this.deps.profiles.set(user);
    return user;
  }

  /** The account behind a session; UNAUTHENTICATED once it no longer exists. */
  async account(userId: string): Promise<UserRecord> {
    const user = await this.deps.users.findById(userId);
    if (!user) throw new AppError('UNAUTHENTICATED', 'The account no longer exists');
    return user;
  }
}
