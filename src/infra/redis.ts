import { Redis, type RedisOptions } from 'ioredis';
import { unavailable } from './errors.js';

export type { Redis };

export interface RedisFactoryOptions {
  url: string;
  /** Connection name shown by `CLIENT LIST`, for operators. */
  name: string;
  /** BullMQ needs `null`: it blocks on commands and retries itself. */
  maxRetriesPerRequest?: number | null;
  /** Fail commands at once while disconnected instead of queueing them (request paths). */
  failFast?: boolean;
  /**
   * Connect on first use (default) or at once. BullMQ must get an eager client: it `duplicate()`s it for
   * blocking reads, and a lazy duplicate whose first `connect()` fails during an outage leaves its worker
   * unable to fetch jobs ever again; an eager one just waits for 'ready'.
   */
  lazy?: boolean;
}

/** One ioredis client. Keys are prefixed by callers (see `RedisKeys`), not by ioredis, so Lua and BullMQ see the same names. */
export function createRedis({ url, name, maxRetriesPerRequest = 1, failFast = true, lazy = true }: RedisFactoryOptions): Redis {
  const options: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest,
    enableOfflineQueue: !failFast,
    connectTimeout: 2_000,
    // Reconnect forever with a capped back-off: Redis coming back must heal every instance by itself.
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    lazyConnect: lazy,
    // No auto-pipelining: it would batch concurrent session checks (~10% on `me`), but measured here a
    // command issued during an outage then hangs instead of failing fast, so requests would hang where
    // they must answer SERVICE_UNAVAILABLE (or fall back to the memory limiter).
    enableAutoPipelining: false,
  };
  const client = new Redis(url, options);
  // ioredis emits 'error' on every failed reconnect; readiness reports the outage, so swallow here.
  client.on('error', () => undefined);
  return client;
}

/** A Lua script as a command of a client: `(numKeys, ...keys, ...args)`. */
export type ScriptCommand = (numKeys: number, ...keysThenArgs: (string | number)[]) => Promise<unknown>;

/**
 * `lua` as the command `name` of the client, defined on first use: ioredis sends EVALSHA (and the script
 * once, when Redis lacks it), not the whole script with every call. One name per script text.
 */
export function scriptCommand(client: Redis, name: string, lua: string): ScriptCommand {
  const commands = client as unknown as Record<string, ScriptCommand | undefined>;
  if (!commands[name]) client.defineCommand(name, { lua });
  return commands[name]!.bind(client);
}

/** Connects, or throws the one-line instruction of how to get a Redis (README "Set-up: two commands"). */
export async function connectRedisOrExplain(client: Redis, url: string): Promise<void> {
  try {
    await client.connect();
    await client.ping();
  } catch (cause) {
    client.disconnect();
    const where = redactUrl(url);
    throw new Error(
      `Redis is not answering at ${where}. Start one with ` +
        '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no` ' +
        '(or `docker run -d -p 6379:6379 redis:7`), or point REDIS_URL at yours.',
      { cause },
    );
  }
}

/** PING with a deadline, for readiness probes. */
export async function pingRedis(client: Redis, timeoutMs = 1_000): Promise<boolean> {
  if (client.status !== 'ready') return false;
  try {
    return (await withTimeout(client.ping(), timeoutMs)) === 'PONG';
  } catch {
    return false;
  }
}

/** Runs a Redis command on a request path: an outage becomes `SERVICE_UNAVAILABLE`, never a pass. */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    throw unavailable('Session store', cause);
  }
}

export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

/**
 * `p`, or a rejection after `ms`. When the deadline wins, `p` may still reject later (a Redis command
 * flushed with "Connection is closed"): that late rejection is handled here, not left unhandled.
 */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
