import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AlertRuleName, AlertThreshold } from '../../infra/config.js';
import { scriptCommand, withTimeout } from '../../infra/redis.js';

/** Where an observation was counted: shared by every instance, or (Redis down) this process alone. */
export type CountedIn = 'redis' | 'memory';

export interface Observation {
  /** Distinct members seen in the window (at most the threshold: older ones are dropped past it). */
  readonly count: number;
  /** True for the one observation that fires the rule for this network in this window. */
  readonly fired: boolean;
  readonly countedIn: CountedIn;
}

/** A Redis call on the failed-sign-in path waits no longer than this before counting in memory instead. */
const REDIS_DEADLINE_MS = 200;
/** During a Redis outage memory holds at most this many members across every network (least recently seen networks go first). */
const MAX_MEMORY_MEMBERS = 100_000;

// One atomic step on Redis's clock (instances' clocks may differ): drop members older than the window, add
// this one (a member seen again only moves forward), keep the `threshold` most recent (enough to answer
// "at least threshold within the window", and memory stays bounded), and when the threshold is reached
// claim the network's alert for one window with SET NX: whichever instance claims it fires, the rest do not.
// KEYS: members (sorted set, score = ms), fired marker. ARGV: member, threshold, window ms.
const OBSERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if n > threshold then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - threshold - 1)
  n = threshold
end
redis.call('PEXPIRE', KEYS[1], window)
if n >= threshold and redis.call('SET', KEYS[2], now, 'NX', 'PX', window) then return {n, 1} end
return {n, 0}`;

const sha = (s: string) => createHash('sha256').update(s).digest('base64url');

interface MemoryWindow {
  /** Member to when it was last seen (epoch ms), oldest first. */
  readonly members: Map<string, number>;
  /** Until when this network's alert is claimed (epoch ms). */
  firedUntil: number;
}

/**
 * Sliding-window counts of the built-in alert rules, per rule and client network, shared by every instance
 * through Redis (one script call per observation). A network fires once per window: the first observation
 * that reaches the threshold claims the window, and the next alert for it can fire only once that window has
 * passed. With Redis unreachable, counting goes on in this process's memory (bounded), so each instance
 * then alerts on what it sees itself.
 */
export class AlertWindows {
  private readonly memory = new Map<string, MemoryWindow>();
  private memoryMembers = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Epoch ms (the memory fallback's clock). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts `member` (a keyed hash, or a fresh id for events counted one by one) for the rule and network. */
  async observe(rule: AlertRuleName, network: string, member: string, limit: AlertThreshold): Promise<Observation> {
    const [members, fired] = this.keys(rule, network);
    try {
      const reply = scriptCommand(this.redis, 'latchkeyAlertObserve', OBSERVE)(2, members, fired, member, limit.threshold, limit.windowSeconds * 1000);
      const [count, firedNow] = (await withTimeout(reply, REDIS_DEADLINE_MS)) as [number, number];
      return { count, fired: firedNow === 1, countedIn: 'redis' };
    } catch {
      return this.observeInMemory(`${rule}\u0000${network}`, member, limit);
    }
  }

  /** Gives the window's alert back (its audit entry could not be written), so the next observation may fire it. */
  async rearm(rule: AlertRuleName, network: string, countedIn: CountedIn): Promise<void> {
    if (countedIn === 'memory') {
      const entry = this.memory.get(`${rule}\u0000${network}`);
      if (entry) entry.firedUntil = 0;
      return;
    }
    await this.redis.del(this.keys(rule, network)[1]).catch(() => undefined);
  }

  private keys(rule: AlertRuleName, network: string): [string, string] {
    // The address is hashed like every limiter key: Redis holds no client address in clear.
    const base = `${this.prefix}alert:${rule}:${sha(network)}`;
    return [base, `${base}:fired`];
  }

  private observeInMemory(key: string, member: string, { threshold, windowSeconds }: AlertThreshold): Observation {
    const now = this.now();
    const entry = this.memory.get(key) ?? { members: new Map<string, number>(), firedUntil: 0 };
    // Most recently seen network last, so the oldest goes first when the outage fills the budget.
    this.memory.delete(key);
    this.memory.set(key, entry);
    const before = entry.members.size;
    for (const [m, at] of entry.members) {
      if (at > now - windowSeconds * 1000) break;
      entry.members.delete(m);
    }
    entry.members.delete(member);
    entry.members.set(member, now);
    while (entry.members.size > threshold) entry.members.delete(entry.members.keys().next().value!);
    this.memoryMembers += entry.members.size - before;
    this.evictOldest();
    const count = entry.members.size;
    const fired = count >= threshold && entry.firedUntil <= now;
    if (fired) entry.firedUntil = now + windowSeconds * 1000;
    return { count, fired, countedIn: 'memory' };
  }

  private evictOldest(): void {
    while (this.memoryMembers > MAX_MEMORY_MEMBERS && this.memory.size > 1) {
      const [oldest, entry] = this.memory.entries().next().value!;
      this.memoryMembers -= entry.members.size;
      this.memory.delete(oldest);
    }
  }
}
