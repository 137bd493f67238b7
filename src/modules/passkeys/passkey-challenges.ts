import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisCall } from '../../infra/redis.js';

/** How long a ceremony may take: its challenge dies after this. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 5 * 60;

/** What a challenge was issued for, kept server side until its one use. */
export type PendingCeremony =
  | { kind: 'registration'; challenge: string; userId: string; sessionId: string }
  /** `identified`: the caller named an account (`userId`, null when none matched), so only its passkeys may answer. */
  | { kind: 'login'; challenge: string; identified: boolean; userId: string | null };

/**
 * WebAuthn challenges, server side (Redis): each under a random id handed to the client, single use (GETDEL:
 * of two finishes racing with one id, one gets it) and gone after five minutes. The key is a digest of the id,
 * so a Redis dump holds no usable id.
 */
export class PasskeyChallenges {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = PASSKEY_CHALLENGE_TTL_SECONDS,
  ) {}

  /** The Redis key of a challenge id (tests shorten its life to see it expire). */
  keyOf(challengeId: string): string {
    return `${this.prefix}passkey-challenge:${createHash('sha256').update(challengeId).digest('base64url')}`;
  }

  async open(ceremony: PendingCeremony): Promise<string> {
    const challengeId = randomBytes(24).toString('base64url');
    await redisCall(() => this.redis.set(this.keyOf(challengeId), JSON.stringify(ceremony), 'EX', this.ttlSeconds));
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
