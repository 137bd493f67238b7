import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from './errors.js';

export interface LimitRule {
  /** Allowed attempts per window. */
  points: number;
  windowSeconds: number;
}

/**
 * One named limit, counted atomically in Redis (rate-limiter-flexible's Lua), so every instance shares
 * the count. With Redis down it falls back to a per-instance memory limiter: never to no limit.
 * RECIPES.md says why not graphql-rate-limit's store (a non-atomic read-then-write).
 */
export class Limit {
  private readonly limiter: RateLimiterRedis;

  constructor(redis: Redis, keyPrefix: string, name: string, rule: LimitRule) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${keyPrefix}rl:${name}`,
      points: rule.points,
      duration: rule.windowSeconds,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ points: rule.points, duration: rule.windowSeconds }),
    });
  }

  /** Counts one attempt for `key`; throws RATE_LIMITED with `retryAfter` (seconds) past the limit. */
  async consume(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        throw new AppError('RATE_LIMITED', `Too many attempts; try again in ${retryAfter} s`, { retryAfter });
      }
      throw res;
    }
  }
}
