import { beforeAll, describe, expect, it } from 'vitest';
import { register, rest } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { FAST_MAIL_ENV, PRODUCTION_MAIL_ENV, tokenIn } from '../../test/mail-server.js';
import { redisKeysContaining } from '../../test/redis-contents.js';
import { eventually } from '../../test/tcp-proxy.js';

interface Listed {
  messages: { to: string; subject: string; text: string; links: string[] }[];
}

describe('development outbox (no RESEND_API_KEY)', () => {
  const fx = useTestServers('devmail');
  let dev: TestServer;
  let prod: TestServer;

  beforeAll(async () => {
    dev = await fx.start({ workers: true, env: FAST_MAIL_ENV });
    prod = await fx.start({ env: { NODE_ENV: 'production', BCRYPT_COST: '10', ...PRODUCTION_MAIL_ENV } });
  });

  it('keeps the mail and lists it with working links at GET /dev/mail, logging no token', async () => {
    const t = await register(dev);
    const listed = await eventually(
      async () => (await rest(dev, 'GET', '/dev/mail')).body as unknown as Listed,
      (l) => l.messages.some((m) => m.to === t.user.email),
      10_000,
    );
    const mail = listed.messages.find((m) => m.to === t.user.email)!;
    const token = tokenIn(mail.text);
    expect(mail.links.some((l) => l.includes(`token=${token}`))).toBe(true);
    const click = await rest(dev, 'GET', `/auth/verify-email?token=${token}`, undefined, { accept: 'application/json' });
    expect(click.body).toMatchObject({ verified: true });
    expect(dev.logs.join('\n')).not.toContain(token);
    const row = await dev.infra.prisma.emailMessage.findFirstOrThrow({ where: { userId: t.user.id } });
    expect(row.status).toBe('SENT');
    expect(row.providerId).toMatch(/^dev-/);
  });

  it('keeps no link token or address in clear in Redis, and still lists the working reset link', async () => {
    const t = await register(dev);
    expect((await rest(dev, 'POST', '/auth/reset-password/request', { email: t.user.email })).status).toBe(202);
    const listed = await eventually(
      async () => (await rest(dev, 'GET', '/dev/mail')).body as unknown as Listed,
      (l) => l.messages.some((m) => m.to === t.user.email && /reset/i.test(m.subject)),
      10_000,
    );
    const mails = listed.messages.filter((m) => m.to === t.user.email);
    const resetMail = mails.find((m) => /reset/i.test(m.subject))!;
    const token = tokenIn(resetMail.text);
    expect(resetMail.links.some((l) => l.includes(`token=${token}`))).toBe(true);
    // Every key under this file's prefix: the dev outbox, BullMQ's jobs and events, limits, caches.
    for (const m of mails) expect(await redisKeysContaining(fx.prefix, tokenIn(m.text))).toEqual([]);
    expect(await redisKeysContaining(fx.prefix, t.user.email)).toEqual([]);
    // The link works.
    const reset = await rest(dev, 'POST', '/auth/reset-password/confirm', { token, newPassword: 'a fresh and long passphrase' });
    expect(reset.status).toBe(204);
  });

  it('does not exist in production', async () => {
    expect((await rest(prod, 'GET', '/dev/mail')).status).toBe(404);
  });
});
