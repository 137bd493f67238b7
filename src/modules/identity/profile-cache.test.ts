import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../infra/redis.js';
import { clearRedisPrefix, uniquePrefix } from '../../test/harness.js';
import { parseProfile, ProfileCache, serializeProfile } from './profile-cache.js';
import type { UserProfile } from './users.repository.js';

const profile = (over: Partial<UserProfile> = {}): UserProfile => ({
  id: '5f0c3a1e-8d2b-4c7e-9a51-1b2c3d4e5f60',
  username: 'alice',
  email: 'alice@example.com',
  emailVerifiedAt: null,
  mfaEnabledAt: null,
  role: 'USER',
  disabledAt: null,
  createdAt: new Date('2030-01-01T00:00:00Z'),
  ...over,
});

/** The cache that carries each account's role and standing to every session check (real Redis). */
describe('ProfileCache', () => {
  const prefix = uniquePrefix('profile');
  let redis: Redis;
  let cache: ProfileCache;
  const raw = (id = profile().id) => redis.get(cache.key(id));
  beforeAll(async () => {
    redis = createRedis({ url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', name: 'profile-cache-test' });
    await redis.connect();
    cache = new ProfileCache(redis, prefix);
  });
  afterAll(async () => {
    redis?.disconnect();
    await clearRedisPrefix(prefix);
  });

  it('race: a reader that read PostgreSQL before a change committed cannot cache the old state after its invalidation', async () => {
    const before = profile({ id: 'a0000000-0000-4000-8000-000000000001' });
    const seen = await raw(before.id); // the reader's MGET: a miss
    await cache.invalidate(before.id); // the writer: commit, then invalidate
    await cache.fill(before, seen); // the reader, late, with what it read before the commit
    expect(parseProfile((await raw(before.id))!)).toBeNull();
  });

  it('race: nor after a second invalidation, when it had seen the first one', async () => {
    const id = 'a0000000-0000-4000-8000-000000000002';
    await cache.invalidate(id);
    const seen = await raw(id);
    await cache.invalidate(id);
    await cache.fill(profile({ id, role: 'ADMIN' }), seen);
    expect(parseProfile((await raw(id))!)).toBeNull();
  });

  it('a reader after the invalidation caches the new state over the marker', async () => {
    const id = 'a0000000-0000-4000-8000-000000000003';
    await cache.fill(profile({ id }), null);
    await cache.invalidate(id);
    const after = profile({ id, role: 'SUPPORT', disabledAt: new Date('2030-02-01T00:00:00Z') });
    await cache.fill(after, await raw(id));
    expect(parseProfile((await raw(id))!)).toEqual(after);
  });

  it('an entry that cannot say the role and the standing (an older version wrote it) is a miss, never an active USER', () => {
    const current = JSON.parse(serializeProfile(profile())) as Record<string, unknown>;
    const { role: _role, disabledAt: _disabledAt, ...older } = current;
    expect(parseProfile(JSON.stringify(older))).toBeNull();
    expect(parseProfile(JSON.stringify({ ...current, role: 'ROOT' }))).toBeNull();
    expect(parseProfile(JSON.stringify({ ...current, disabledAt: 1 }))).toBeNull();
    expect(parseProfile('stale:anything')).toBeNull();
    expect(parseProfile(serializeProfile(profile({ disabledAt: new Date('2030-03-01T00:00:00Z') })))?.disabledAt).toEqual(new Date('2030-03-01T00:00:00Z'));
  });

  it('a strict invalidation reports an unreachable Redis (SERVICE_UNAVAILABLE); a lenient one does not', async () => {
    const down = createRedis({ url: 'redis://127.0.0.1:1', name: 'profile-cache-down' });
    const unreachable = new ProfileCache(down, prefix);
    try {
      await expect(unreachable.invalidate('a0000000-0000-4000-8000-000000000004')).resolves.toBeUndefined();
      await expect(unreachable.invalidate('a0000000-0000-4000-8000-000000000004', { strict: true })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    } finally {
      down.disconnect();
    }
  });
});
