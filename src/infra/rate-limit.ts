import { createHash } from 'node:crypto';
import type { RequestMeta } from '../core/request.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { clientNetwork } from './client-network.js';
import { scriptCommand, type Redis } from './redis.js';
import type { Config, LimitName } from './config.js';
import { AppError } from './errors.js';
import type { KeyPart, KeyText, LimitSpec } from './limit-spec.js';

export type { LimitName };

/**
 * Told of every attempt a limit refuses, before RATE_LIMITED is thrown (metrics, security alert rules).
 * `meta` is the refused request's, when the door passed it. It must not throw.
 */
export type LimitObserver = (name: LimitName, meta: RequestMeta | undefined) => Promise<void> | void;

/**
 * RATE_LIMITED, naming the limit that refused and whether this is the first refusal of its window: what
 * reports a refusal (the audit log) reports it once per key and window, however hard a client hammers.
 */
export class RateLimitedError extends AppError {
  constructor(
    readonly limit: LimitName,
    readonly firstInWindow: boolean,
    retryAfter: number,
  ) {
    super('RATE_LIMITED', `Too many attempts; try again in ${retryAfter} s`, { retryAfter });
  }
}

/**
 * Lua defining `consume_in_order(n)`: rate-limiter-flexible's increment (its `incrTtlLuaScript`: SET NX
 * with the window, INCRBY, PTTL) for KEYS[1..n] in turn, ARGV holding the points and window seconds of
 * each, stopping at the first past its points, as consuming them one by one would. Returns {index
 * (1-based) of the refusing key, its consumed points, its ms left}, or nil when every key passed.
 */
const CONSUME_IN_ORDER_FN = `
local function consume_in_order(n)
  for i = 1, n do
    local secs = tonumber(ARGV[2 * i])
    redis.call('set', KEYS[i], 0, 'EX', secs, 'NX')
    local consumed = redis.call('incrby', KEYS[i], 1)
    local ttl = redis.call('pttl', KEYS[i])
    if ttl == -1 then
      redis.call('expire', KEYS[i], secs)
      ttl = 1000 * secs
    end
    if consumed > tonumber(ARGV[2 * i - 1]) then return {i, consumed, ttl} end
  end
  return nil
end
`;

/** Every key is a limiter's. Returns {refusing index or 0, consumed, ms left}. */
const CONSUME_IN_ORDER = `${CONSUME_IN_ORDER_FN}
return consume_in_order(#KEYS) or {0, 0, 0}`;

/**
 * The limiters' keys first (one per ARGV pair), then the read's: the limits, and only when all of them
 * passed, the read. Returns {refusing index or 0, consumed, ms left, the read's reply (when 0)}.
 */
const consumeThenRead = (readLua: string) => `${CONSUME_IN_ORDER_FN}${readLua}
local n = #ARGV / 2
local refused = consume_in_order(n)
if refused then return refused end
return {0, 0, 0, read(n + 1)}`;

/**
 * A read of Redis that a caller needs right after counting some limits, run in the same script so both
 * take one round trip (`Limits.consumeAllThen`). It reads keys only (no ARGV) and writes nothing.
 */
export interface ReadAfterLimits<T> {
  /** Names its script, defined once on the client: one name per `lua`. */
  readonly name: string;
  /** Lua defining `local function read(first)`, which reads KEYS[first] onwards; its return is the reply. */
  readonly lua: string;
  readonly keys: readonly string[];
  /** The read, from the reply of `read`. */
  parse(reply: unknown): T;
  /** The read on its own, when the limits could not be counted in one script (Redis not ready, or the script failed). */
  alone(): Promise<T>;
}

export interface LimitRule {
  /** Allowed attempts per window. */
  points: number;
  windowSeconds: number;
}

/**
 * Named limits, counted atomically in Redis by rate-limiter-flexible (a Lua script per consume, so
 * every instance shares one count). With Redis down each falls back to a per-instance memory limiter:
 * never to no limit. Not graphql-rate-limit's own store: it reads then writes, so concurrent attempts
 * could all pass (README "Abuse protection").
 */
export class Limits {
  private readonly limiters = new Map<LimitName, RateLimiterRedis>();

  /** `ipv6Prefix`: the network length an IPv6 client address is counted by (RATE_LIMIT_IPV6_PREFIX). */
  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    rules: Config['limits'],
    private readonly ipv6Prefix = 64,
    private readonly observer?: LimitObserver,
  ) {
    for (const [name, rule] of Object.entries(rules) as [LimitName, LimitRule | null][]) {
      if (!rule) continue;
      this.limiters.set(
        name,
        new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${keyPrefix}rl:${name}`,
          points: rule.points,
          duration: rule.windowSeconds,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new RateLimiterMemory({ points: rule.points, duration: rule.windowSeconds }),
        }),
      );
    }
  }

  /**
   * Counts one attempt for the key made of `parts` (a client address, a submitted identifier, ...). Past
   * the limit, RATE_LIMITED with `retryAfter` in seconds. Identifiers are hashed: Redis never holds an
   * email in clear. A client address (`byAddress`) counts by its network: IPv4 as is, IPv6 per prefix.
   * `meta`, the request's, goes to the observer with a refusal.
   */
  async consume(name: LimitName, parts: readonly KeyPart[], meta?: RequestMeta): Promise<void> {
    const limiter = this.limiters.get(name);
    if (!limiter) return;
    const key = this.keyFor(parts);
    try {
      await limiter.consume(key);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        await this.observer?.(name, meta);
        const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        throw new RateLimitedError(name, res.consumedPoints === limiter.points + 1, retryAfter);
      }
      throw res;
    }
  }

  /**
   * Every limit of a declared spec, in order: the first one spent answers RATE_LIMITED (and the ones after
   * it are not counted). Two or more limits are counted in one Redis round trip (CONSUME_IN_ORDER, the
   * library's own increment per key, stopping at the first refusal); with Redis unavailable, one by one
   * through `consume` (its memory fallback).
   */
  async consumeAll(spec: LimitSpec, meta?: RequestMeta): Promise<void> {
    const active = this.active(spec);
    if (active.length < 2 || this.redis.status !== 'ready') return this.consumeOneByOne(spec, meta);
    let reply: [number, number, number];
    try {
      reply = (await scriptCommand(this.redis, 'latchkeyConsumeInOrder', CONSUME_IN_ORDER)(active.length, ...active.map((a) => a.key), ...limitArgs(active))) as typeof reply;
    } catch {
      return this.consumeOneByOne(spec, meta);
    }
    const [index, consumed, ttlMs] = reply;
    if (index !== 0) await this.refuse(active[index - 1]!, consumed, ttlMs, meta);
  }

  /**
   * `consumeAll`, then `read`, in one script (one round trip): the read runs only once every limit passed,
   * so a refused attempt learns nothing more. With Redis unavailable or the script failing, `consumeAll`'s
   * fallback (one by one, memory behind each) and then the read on its own (`read.alone`, with its own).
   */
  async consumeAllThen<T>(spec: LimitSpec, read: ReadAfterLimits<T>, meta?: RequestMeta): Promise<T> {
    const active = this.active(spec);
    if (this.redis.status !== 'ready') {
      await this.consumeOneByOne(spec, meta);
      return read.alone();
    }
    let reply: [number, number, number, unknown];
    try {
      const run = scriptCommand(this.redis, `latchkeyLimitsThen_${read.name}`, consumeThenRead(read.lua));
      reply = (await run(active.length + read.keys.length, ...active.map((a) => a.key), ...read.keys, ...limitArgs(active))) as typeof reply;
    } catch {
      await this.consumeOneByOne(spec, meta);
      return read.alone();
    }
    const [index, consumed, ttlMs, result] = reply;
    if (index !== 0) await this.refuse(active[index - 1]!, consumed, ttlMs, meta);
    return read.parse(result);
  }

  /** The limits of `spec` that are configured, each with its limiter's full Redis key. */
  private active(spec: LimitSpec): ActiveLimit[] {
    return spec.flatMap(([name, parts]) => {
      const limiter = this.limiters.get(name);
      return limiter ? [{ name, limiter, key: limiter.getKey(this.keyFor(parts)) }] : [];
    });
  }

  private async consumeOneByOne(spec: LimitSpec, meta: RequestMeta | undefined): Promise<void> {
    for (const [name, parts] of spec) await this.consume(name, parts, meta);
  }

  /** RATE_LIMITED for the limit a script found spent (the observer told first, as `consume` does). */
  private async refuse({ name, limiter }: ActiveLimit, consumed: number, ttlMs: number, meta: RequestMeta | undefined): Promise<never> {
    await this.observer?.(name, meta);
    throw new RateLimitedError(name, consumed === limiter.points + 1, Math.max(1, Math.ceil(ttlMs / 1000)));
  }

  /** The limiter's key for `parts` (addresses by network, identifiers hashed). */
  private keyFor(parts: readonly KeyPart[]): string {
    return keyOf(parts.map((p) => (typeof p === 'object' && p !== null ? clientNetwork(p.clientAddress, this.ipv6Prefix) : p)));
  }

  /**
   * Gives back the attempts a success just consumed (a right MFA code must not use up the budget meant for
   * wrong ones). Best effort: with Redis down the count simply stays, erring on the strict side.
   */
  async refund(spec: readonly (readonly [LimitName, readonly (KeyText | null | undefined)[]])[]): Promise<void> {
    for (const [name, parts] of spec) await this.limiters.get(name)?.reward(keyOf(parts), 1).catch(() => undefined);
  }
}

interface ActiveLimit {
  name: LimitName;
  limiter: RateLimiterRedis;
  /** The limiter's key in Redis (prefix included). */
  key: string;
}

/** ARGV of CONSUME_IN_ORDER_FN: the points and window seconds of each limit, in order. */
const limitArgs = (active: readonly ActiveLimit[]) => active.flatMap((a) => [String(a.limiter.points), String(a.limiter.duration)]);

const keyOf = (parts: readonly (string | null | undefined)[]) =>
  createHash('sha256').update(parts.map((p) => (p ?? '').trim().toLowerCase()).join('\u0000')).digest('base64url');
