import type { Redis } from 'ioredis';
import { unavailable } from '../../infra/errors.js';
import { redisCall } from '../../infra/redis.js';

export type CachedSession = { state: 'live'; userId: string; until: number } | { state: 'revoked' };

function parseSession(raw: string | null): CachedSession | null {
  if (raw === null) return null;
  if (raw === 'revoked') return { state: 'revoked' };
  const [userId, until] = raw.split('|');
  return userId && until ? { state: 'live', userId, until: Number(until) } : null;
}

/** How long a "live" answer may be served from Redis before PostgreSQL is asked again. */
export const LIVE_TTL_SECONDS = 300;

/**
 * Session liveness in Redis, in front of PostgreSQL: every authenticated call reads one key. A revocation
 * writes `revoked` here before it touches PostgreSQL, so it takes effect at once on every instance.
 * Any Redis failure surfaces as SERVICE_UNAVAILABLE (never as a pass).
 */
export class SessionCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** A revoked marker must outlive every access token that names the session. */
    private readonly revokedTtlSeconds: number,
  ) {}

  private key(sessionId: string) {
    return `${this.prefix}session:${sessionId}`;
  }

  /**
   * The session's state, and (when `sidecarKey` is given) another key read in the same MGET: the
   * account's cached profile, so an authenticated call needs one round trip for both.
   */
  async get(sessionId: string, sidecarKey?: string): Promise<{ session: CachedSession | null; sidecar: string | null }> {
    const [raw, sidecar] = sidecarKey
      ? await redisCall(() => this.redis.mget(this.key(sessionId), sidecarKey))
      : [await redisCall(() => this.redis.get(this.key(sessionId))), null];
    return { session: parseSession(raw ?? null), sidecar: sidecar ?? null };
  }

  async markLive(sessionId: string, userId: string, until: Date): Promise<void> {
    const ttl = Math.min(LIVE_TTL_SECONDS, Math.ceil((until.getTime() - Date.now()) / 1000));
    if (ttl <= 0) return;
    // NX: never overwrite a `revoked` marker written by a concurrent revocation.
    await redisCall(() => this.redis.set(this.key(sessionId), `${userId}|${until.getTime()}`, 'EX', ttl, 'NX'));
  }

  async markRevoked(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    const pipeline = this.redis.multi();
    for (const id of sessionIds) pipeline.set(this.key(id), 'revoked', 'EX', this.revokedTtlSeconds);
    const results = await redisCall(() => pipeline.exec());
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw unavailable('Session store', failed?.[0] ?? new Error('MULTI aborted'));
  }
}
