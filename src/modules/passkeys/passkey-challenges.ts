import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { clientNetwork } from '../../infra/client-network.js';
import { redisCall, scriptCommand } from '../../infra/redis.js';

/** How long a ceremony may take: its challenge dies after this. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 5 * 60;

/**
 * Sign-in challenges one source (client network) may hold at once: past it, opening one drops that
 * source's oldest. Sign-in pages ask for a challenge without anyone signing in (the console's passkey
 * autofill), so what a source can park in Redis is bounded by this, not only by its rate limit.
 */
export const PASSKEY_LOGIN_CHALLENGES_PER_SOURCE = 50;

/** What a challenge was issued for, kept server side until its one use. */
export type PendingCeremony =
  | { kind: 'registration'; challenge: string; userId: string; sessionId: string }
  /** `identified`: the caller named an account (`userId`, null when none matched), so only its passkeys may answer. */
  | { kind: 'login'; challenge: string; identified: boolean; userId: string | null };

/**
 * Stores a challenge and records it in its source's index (a sorted set by time); entries older than the TTL
 * leave the index, and past the cap the oldest are popped and their challenges deleted. The challenge keys
 * popped are read from the index (one Redis, no cluster: the keys share no hash slot).
 * KEYS: challenge, index. ARGV: ceremony, ttl (s), now (ms), cap.
 */
const OPEN_BOUNDED = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]) * 1000)
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return over`;

const digest = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * WebAuthn challenges, server side (Redis): each under a random id handed to the client, single use (GETDEL:
 * of two finishes racing with one id, one gets it) and gone after five minutes. The key is a digest of the id,
 * so a Redis dump holds no usable id. Sign-in challenges are also counted per source (`openFor`).
 */
export class PasskeyChallenges {
  private readonly ttlSeconds: number;
  private readonly perSource: number;
  private readonly ipv6Prefix: number;

  /** `ipv6Prefix`: the network an IPv6 client counts by (RATE_LIMIT_IPV6_PREFIX, as for the rate limits). */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    opts: { ttlSeconds?: number; perSource?: number; ipv6Prefix?: number } = {},
  ) {
    this.ttlSeconds = opts.ttlSeconds ?? PASSKEY_CHALLENGE_TTL_SECONDS;
    this.perSource = opts.perSource ?? PASSKEY_LOGIN_CHALLENGES_PER_SOURCE;
    this.ipv6Prefix = opts.ipv6Prefix ?? 64;
  }

  /** The Redis key of a challenge id (tests shorten its life to see it expire). */
  keyOf(challengeId: string): string {
    return `${this.prefix}passkey-challenge:${digest(challengeId)}`;
  }

  /** The Redis key of the index of sign-in challenges asked from this IP's network. */
  sourceKeyOf(ip: string): string {
    return `${this.prefix}passkey-challenges-of:${digest(clientNetwork(ip, this.ipv6Prefix))}`;
  }

  async open(ceremony: PendingCeremony): Promise<string> {
    const challengeId = randomBytes(24).toString('base64url');
    await redisCall(() => this.redis.set(this.keyOf(challengeId), JSON.stringify(ceremony), 'EX', this.ttlSeconds));
    return challengeId;
  }

  /**
   * A challenge asked for by an unauthenticated caller from `ip`: stored like `open`, and the oldest
   * challenges of its network dropped past the per-source cap.
   */
  async openFor(ip: string, ceremony: PendingCeremony): Promise<string> {
    const challengeId = randomBytes(24).toString('base64url');
    await redisCall(() =>
      scriptCommand(this.redis, 'latchkeyPasskeyOpenBounded', OPEN_BOUNDED)(2, this.keyOf(challengeId), this.sourceKeyOf(ip), JSON.stringify(ceremony), this.ttlSeconds, Date.now(), this.perSource),
    );
    return challengeId;
  }

  /** The ceremony of a live challenge id, used up by this call; null when unknown, used or expired. */
  async take(challengeId: string): Promise<PendingCeremony | null> {
    const raw = await redisCall(() => this.redis.getdel(this.keyOf(challengeId)));
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as PendingCeremony;
    } catch {
      return null;
    }
  }
}
