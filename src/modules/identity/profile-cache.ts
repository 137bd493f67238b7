import type { Redis } from 'ioredis';
import type { UserProfile } from './users.repository.js';

/** How long a cached profile may be served; every change to a visible field deletes it at once. */
export const PROFILE_TTL_SECONDS = 300;

export const profileKey = (prefix: string, userId: string) => `${prefix}profile:${userId}`;

type Stored = Omit<UserProfile, 'emailVerifiedAt' | 'mfaEnabledAt' | 'createdAt'> & { emailVerifiedAt: string | null; mfaEnabledAt: string | null; createdAt: string };

export const serializeProfile = (p: UserProfile): string =>
  JSON.stringify({
    id: p.id,
    username: p.username,
    email: p.email,
    emailVerifiedAt: p.emailVerifiedAt?.toISOString() ?? null,
    mfaEnabledAt: p.mfaEnabledAt?.toISOString() ?? null,
    createdAt: p.createdAt.toISOString(),
  } satisfies Stored);

export function parseProfile(raw: string): UserProfile | null {
  try {
    const s = JSON.parse(raw) as Stored;
    return { ...s, emailVerifiedAt: s.emailVerifiedAt ? new Date(s.emailVerifiedAt) : null, mfaEnabledAt: s.mfaEnabledAt ? new Date(s.mfaEnabledAt) : null, createdAt: new Date(s.createdAt) };
  } catch {
    return null;
  }
}

/**
 * The account fields `me` returns, cached in Redis next to the session key (both are read in one MGET
 * by the session check), so an authenticated `me` touches neither PostgreSQL nor a second round trip.
 * Writers delete it after committing; a failed delete is bounded by the TTL.
 */
export class ProfileCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async set(profile: UserProfile): Promise<void> {
    await this.redis.set(profileKey(this.prefix, profile.id), serializeProfile(profile), 'EX', PROFILE_TTL_SECONDS).catch(() => undefined);
  }

  async invalidate(userId: string): Promise<void> {
    await this.redis.del(profileKey(this.prefix, userId)).catch(() => undefined);
  }
}
