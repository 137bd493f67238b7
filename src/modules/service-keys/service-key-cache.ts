import type { Redis } from 'ioredis';
import { unavailable } from '../../infra/errors.js';
import { redisCall } from '../../infra/redis.js';

/** How long an instance trusts a key's cached hash before it reads PostgreSQL (and notes the use) again. */
export const KEY_CACHE_SECONDS = 300;

export type CachedKey = { state: 'live'; secretHash: string } | { state: 'revoked' } | null;

/**
 * Service keys in Redis, in front of PostgreSQL: an introspection call reads one key. A revocation writes
 * `revoked` here before it touches PostgreSQL, so a revoked key stops working at once on every instance
 * (the same discipline as SessionCache). Any Redis failure is SERVICE_UNAVAILABLE, never a pass.
 */
export class ServiceKeyCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string) {
    return `${this.prefix}service-key:${id}`;
  }

  async get(id: string): Promise<CachedKey> {
    const raw = await redisCall(() => this.redis.get(this.key(id)));
    if (raw === null) return null;
    return raw === 'revoked' ? { state: 'revoked' } : { state: 'live', secretHash: raw };
  }

  /** NX: never overwrite a `revoked` marker written by a concurrent revocation. */
  async markLive(id: string, secretHashHex: string): Promise<void> {
    await redisCall(() => this.redis.set(this.key(id), secretHashHex, 'EX', KEY_CACHE_SECONDS, 'NX'));
  }

  /** Outlives every `live` entry any instance may still write from a read made before the revocation. */
  async markRevoked(id: string): Promise<void> {
    const ok = await redisCall(() => this.redis.set(this.key(id), 'revoked', 'EX', KEY_CACHE_SECONDS * 2));
    if (ok !== 'OK') throw unavailable('Service key store', new Error('SET failed'));
  }
}
