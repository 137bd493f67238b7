import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '../../core/request.js';
import { redisCall, scriptCommand } from '../../infra/redis.js';
import type { UserProfile } from './users.repository.js';

/** How long a cached profile may be served; every change to a field in it replaces it at once. */
export const PROFILE_TTL_SECONDS = 300;

export const profileKey = (prefix: string, userId: string) => `${prefix}profile:${userId}`;

type Dated = 'emailVerifiedAt' | 'mfaEnabledAt' | 'disabledAt' | 'createdAt';
type Stored = Omit<UserProfile, Dated> & { emailVerifiedAt: string | null; mfaEnabledAt: string | null; disabledAt: string | null; createdAt: string };

const ROLES: ReadonlySet<string> = new Set(['USER', 'SUPPORT', 'ADMIN'] satisfies Role[]);

export const serializeProfile = (p: UserProfile): string =>
  JSON.stringify({
    id: p.id,
    username: p.username,
    email: p.email,
    emailVerifiedAt: p.emailVerifiedAt?.toISOString() ?? null,
    mfaEnabledAt: p.mfaEnabledAt?.toISOString() ?? null,
    role: p.role,
    disabledAt: p.disabledAt?.toISOString() ?? null,
    createdAt: p.createdAt.toISOString(),
  } satisfies Stored);

const date = (s: string | null) => (s === null ? null : new Date(s));

/**
 * The cached profile, or null for anything else (a miss marker, an entry written by an older version
 * without role or standing): an entry that cannot say both is never taken for an active USER.
 */
export function parseProfile(raw: string): UserProfile | null {
  let s: Stored;
  try {
    s = JSON.parse(raw) as Stored;
  } catch {
    return null;
  }
  if (typeof s !== 'object' || s === null || !ROLES.has(s.role) || (s.disabledAt !== null && typeof s.disabledAt !== 'string')) return null;
  return { ...s, emailVerifiedAt: date(s.emailVerifiedAt), mfaEnabledAt: date(s.mfaEnabledAt), disabledAt: date(s.disabledAt), createdAt: new Date(s.createdAt) };
}

/** Writes the entry only if the key still holds what the reader saw before reading PostgreSQL ('' for nothing). */
const FILL = `local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`;

/**
 * The account as every call needs it (the `me` fields, its role and its standing), cached in Redis next to
 * the session key: the session check reads both in one MGET, so an authenticated call learns the account's
 * current role and standing without touching PostgreSQL or taking a second round trip.
 *
 * Why a stale role or standing is never served past an invalidation. A writer commits, then `invalidate`s,
 * which replaces the entry with a marker unique to that invalidation (not a delete). A reader that missed
 * reads PostgreSQL, then `fill`s only if the key still holds exactly what its MGET saw before that read.
 * So a reader whose PostgreSQL read predates a commit either fills before that commit's invalidation (which
 * then overwrites it) or finds the marker changed and writes nothing. Between the commit and its
 * invalidation, readers may still get the entry being replaced: that one step is the only window. (Two
 * limits: a reader that stalls between its read and its fill for longer than a marker lives, and an
 * invalidation that fails because Redis is unreachable, fall back to the TTL; the latter also fails every
 * session check meanwhile, since those read this same Redis.)
 */
export class ProfileCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(userId: string): string {
    return profileKey(this.prefix, userId);
  }

  /**
   * Caches a profile just read from PostgreSQL, unless the entry changed since `observed` (the raw value the
   * reader saw before that read, null for none): a failure only costs the next call a read.
   */
  async fill(profile: UserProfile, observed: string | null): Promise<void> {
    await scriptCommand(this.redis, 'latchkeyProfileFill', FILL)(1, this.key(profile.id), observed ?? '', serializeProfile(profile), PROFILE_TTL_SECONDS).catch(() => undefined);
  }

  /**
   * After a change to the account has committed: the cached entry gives way to a marker no reader can
   * overwrite with what it read before. A failure is bounded by the TTL; `strict` reports it instead
   * (SERVICE_UNAVAILABLE), for changes that must take effect at once (role, standing).
   */
  async invalidate(userId: string, opts: { strict?: boolean } = {}): Promise<void> {
    const marker = `stale:${randomBytes(9).toString('base64url')}`;
    const write = () => this.redis.set(this.key(userId), marker, 'EX', PROFILE_TTL_SECONDS);
    if (opts.strict) await redisCall(write);
    else await write().catch(() => undefined);
  }
}
