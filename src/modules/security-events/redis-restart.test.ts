import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newIdentity, register } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { startOwnRedis, type OwnRedis } from '../../test/redis-server.js';
import { subscribe } from '../../test/subscriber.js';
import { WS_CLOSE } from '../../graphql/ws.js';

/**
 * Events reach an instance's sockets through its Redis subscriber connection. While that connection is
 * down (a Redis restart or failover), whatever is published never arrives there, and a socket that stayed
 * open would never learn it missed something. So every socket closes with 1013 (try again later): the
 * client reconnects and pages `securityEvents` for what it missed.
 */
describe('securityEvent sockets when Redis restarts', () => {
  const fx = useTestServers('subrestart');
  let redis: OwnRedis;
  let server: TestServer;
  const opened: { dispose(): void }[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    server = await fx.start({ env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    for (const s of opened) s.dispose();
    await server?.close();
    await redis?.close();
  });

  it('closes every socket with 1013, and a socket opened once Redis is back gets the events', async () => {
    const id = newIdentity('restart');
    const t = await register(server, id);
    const sub = await subscribe(server.wsUrl, t.accessToken);
    opened.push(sub);

    await redis.stop();
    await redis.start();
    expect((await sub.closedWith(10_000)).code).toBe(WS_CLOSE.unavailable);

    // Back: a new socket (the client's reconnect) hears the next event.
    let again: Awaited<ReturnType<typeof subscribe>> | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      const attempt = await Promise.race([subscribe(server.wsUrl, t.accessToken), new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000))]);
      if (attempt && !attempt.closed) again = attempt;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(again).toBeDefined();
    opened.push(again!);
    await login(server, id.username, id.password);
    expect((await again!.next((e) => e.type === 'SIGNED_IN', 10_000)).type).toBe('SIGNED_IN');
  });
});
