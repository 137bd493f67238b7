import { describe, expect, it } from 'vitest';
import type { Redis } from '../../infra/redis.js';
import { useTestServer } from '../../test/harness.js';
import { codeOf, login, newIdentity, register, rest } from '../../test/auth-client.js';

interface Sent {
  name: string;
  args: unknown[];
}

/**
 * The Redis work of one call on the app's client, for the keys under `keys` (the server's rate limits and
 * lockout counters: other work, such as the background relays', may share the client meanwhile): its
 * round trips (a command written alone, or a MULTI or pipeline written in one go, each waited for before
 * a sign-in's next step) and its commands (a script is one command).
 */
async function redisCost(redis: Redis, keys: readonly string[], call: () => Promise<unknown>): Promise<{ writes: number; commands: string[] }> {
  const client = redis as unknown as { sendCommand: (command: Sent, stream?: object, ...rest: unknown[]) => unknown };
  const sendCommand = client.sendCommand;
  // One entry per write: a command alone, or every command of one pipeline (they share its stream).
  const writes: Sent[][] = [];
  const batches = new Map<object, Sent[]>();
  client.sendCommand = function (this: unknown, command, stream, ...rest) {
    const batch = stream ? batches.get(stream) : undefined;
    if (batch) batch.push(command);
    else {
      writes.push([command]);
      if (stream) batches.set(stream, writes.at(-1)!);
    }
    return sendCommand.call(this, command, stream, ...rest);
  };
  try {
    await call();
  } finally {
    client.sendCommand = sendCommand;
  }
  const ours = writes.filter((w) => w.some((c) => c.args.some((a) => typeof a === 'string' && keys.some((k) => a.startsWith(k)))));
  return { writes: ours.length, commands: ours.flat().map((c) => c.name) };
}

describe('Redis round trips of a password sign-in', () => {
  const fx = useTestServer('signin-redis', { env: { TRUST_PROXY: '127.0.0.1', LOCKOUT_THRESHOLD: '3', LOCKOUT_MAX_FAILURES: '10' } });
  let n = 0;
  /** A new address each time: a sign-in from it is never from a known device. */
  const elsewhere = () => ({ 'x-forwarded-for': `203.0.113.${++n}`, 'user-agent': 'another browser' });
  const device = () => ({ 'x-forwarded-for': `198.51.100.${++n}`, 'user-agent': 'counting browser' });

  const viaGraphql = async (identifier: string, password: string, headers: Record<string, string>) => {
    const res = await login(fx.server, identifier, password, headers);
    return codeOf(res.body) ?? res.body.data!.login.__typename;
  };
  const viaRest = async (identifier: string, password: string, headers: Record<string, string>) => {
    const res = await rest(fx.server, 'POST', '/auth/login', { identifier, password }, headers);
    return res.status === 200 ? 'AuthPayload' : String(res.body?.code);
  };
  const cost = (call: () => Promise<unknown>) => {
    const prefix = fx.server.config.redis.keyPrefix;
    return redisCost(fx.server.infra.redis, [`${prefix}rl:`, `${prefix}lockout:`], call);
  };

  it.each([
    ['GraphQL', viaGraphql],
    ['REST', viaRest],
  ] as const)('%s: two round trips with no failures before it (the door, then the limits and locks), from a known device or not', async (_door, signIn) => {
    const id = newIdentity('count');
    const owner = device();
    await register(fx.server, id, owner);
    // Loads the scripts into Redis (a first EVALSHA of a script Redis lacks is followed by its EVAL).
    expect(await signIn(id.username, id.password, owner)).toBe('AuthPayload');
    for (const from of [owner, elsewhere()]) {
      let answer: unknown;
      const spent = await cost(async () => (answer = await signIn(id.username, id.password, from)));
      expect(answer).toBe('AuthPayload');
      // The door's general budget, then the login limits and the lock states in one script: no clear.
      expect(spent).toEqual({ writes: 2, commands: ['evalsha', 'evalsha'] });
    }
  });

  it.each([
    ['GraphQL', viaGraphql],
    ['REST', viaRest],
  ] as const)('%s: a success after failures clears them (one DEL), and the next failures count from zero', async (_door, signIn) => {
    const id = newIdentity('clear');
    const owner = device();
    await register(fx.server, id, owner);
    expect(await signIn(id.username, id.password, owner)).toBe('AuthPayload');
    for (const from of [() => owner, elsewhere]) {
      // Two failures (the threshold is three), a success, two more: never locked, and the right password
      // still signs in. Without the clear the fifth attempt, the third failure, would lock.
      for (let round = 0; round < 2; round++) {
        expect([await signIn(id.username, 'wrong password 1', from()), await signIn(id.username, 'wrong password 2', from())]).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS']);
        let answer: unknown;
        const spent = await cost(async () => (answer = await signIn(id.username, id.password, from())));
        expect(answer).toBe('AuthPayload');
        expect(spent).toEqual({ writes: 3, commands: ['evalsha', 'evalsha', 'del'] });
      }
    }
  });
});
