import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sealer } from '../../infra/crypto/sealed.js';
import { deriveKey } from '../../infra/crypto/secrets.js';
import { codeOf, login, me, newIdentity, refresh, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';
import { redisKeysContaining } from '../../test/redis-contents.js';
import { eventually } from '../../test/tcp-proxy.js';

const REQUEST = 'mutation R($e: String!) { requestPasswordReset(email: $e) }';
const RESET = 'mutation C($i: ResetPasswordInput!) { resetPassword(input: $i) }';

describe('PasswordResetService', () => {
  const fx = useTestServer('reset', { mail: true, env: { RATE_LIMIT_RESET_REQUEST: '5/3600' } });

  const resetMail = (to: string, not?: string) =>
    fx.mail.waitForDelivery((m) => sentTo(m, to) && /reset/i.test(m.subject) && (!not || !(m.text ?? '').includes(not)), 10_000);
  /** Waits until every reset request handed to the queue has been handled. */
  const drained = () =>
    eventually(async () => fx.server.infra.queues.queue('password-reset').getJobCounts('waiting', 'active', 'delayed'), (c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);

  it('resets end to end: link in both parts, weak password keeps the link usable, old sessions die, confirmation mail', async () => {
    const id = newIdentity('reset');
    const a = await register(fx.server, id);
    const other = (await login(fx.server, id.username, id.password)).body.data!.login;

    expect((await gql(fx.server, REQUEST, { e: id.email })).body.data).toEqual({ requestPasswordReset: true });
    const mail = await resetMail(a.user.email);
    const token = tokenIn(mail.text);
    expect(tokenIn(mail.html)).toBe(token);
    expect(mail.text ?? '').toContain('http://app.test.local/reset-password?token=');

    const weak = await gql(fx.server, RESET, { i: { token, newPassword: 'password1' } });
    expect(codeOf(weak.body)).toBe('WEAK_PASSWORD');
    // The account's own name with a few characters around it is no password either.
    expect(codeOf((await gql(fx.server, RESET, { i: { token, newPassword: `${id.username}!2024` } })).body)).toBe('WEAK_PASSWORD');
    const ok = await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token, newPassword: 'a fresh and long passphrase' });
    expect(ok.status).toBe(204);

    for (const t of [a, other]) {
      expect(codeOf((await me(fx.server, t.accessToken)).body)).toBe('UNAUTHENTICATED');
      expect(codeOf((await refresh(fx.server, t.refreshToken)).body)).toBe('UNAUTHENTICATED');
    }
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, id.username, 'a fresh and long passphrase')).body)).toBeUndefined();
    expect(codeOf((await gql(fx.server, RESET, { i: { token, newPassword: 'another long passphrase' } })).body)).toBe('INVALID_TOKEN');

    const changed = await fx.mail.waitForDelivery((m) => sentTo(m, a.user.email) && /changed/i.test(m.subject), 10_000);
    expect(changed.text ?? '').not.toContain(token);
    const events = await fx.server.infra.prisma.securityEvent.findMany({ where: { userId: a.user.id }, select: { type: true } });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['PASSWORD_RESET', 'SESSION_REVOKED']));
  });

  it('answers the same for an unknown email and sends it nothing', async () => {
    const before = fx.mail.delivered.length;
    const known = newIdentity('known');
    await register(fx.server, known);
    await fx.mail.waitForDelivery((m) => sentTo(m, known.email.split('@')[0]!), 10_000);
    const unknown = await rest(fx.server, 'POST', '/auth/reset-password/request', { email: 'nobody.at.all@example.com' });
    const knownRes = await rest(fx.server, 'POST', '/v1/auth/reset-password/request', { email: known.email });
    expect(unknown.status).toBe(202);
    expect(knownRes.status).toBe(202);
    expect(unknown.body).toEqual(knownRes.body);
    await resetMail(known.email.split('@')[0]!);
    await drained();
    expect(fx.mail.delivered.slice(before).filter((m) => sentTo(m, 'nobody.at.all'))).toEqual([]);
  });

  it('keeps no submitted address in Redis, known or unknown, and no finished job', async () => {
    const known = newIdentity('private');
    const t = await register(fx.server, known);
    const unknown = `nobody.${randomBytes(4).toString('hex')}@example.com`;
    for (const email of [known.email, unknown]) {
      expect((await rest(fx.server, 'POST', '/auth/reset-password/request', { email })).status).toBe(202);
    }
    await resetMail(t.user.email);
    await drained();
    // Every key under this file's prefix: BullMQ's jobs, their events stream, limits, caches.
    for (const email of [t.user.email, unknown]) expect(await redisKeysContaining(fx.prefix, email)).toEqual([]);
    const reset = fx.server.infra.queues.queue('password-reset');
    expect(await reset.getJobCounts('completed', 'failed')).toEqual({ completed: 0, failed: 0 });
    await eventually(() => fx.server.infra.queues.queue('email').getJobCounts('completed', 'waiting', 'active', 'delayed'), (c) => Object.values(c).every((n) => n === 0));
    // Nor in PostgreSQL's outbox: a handled request's row is gone.
    const rows = await fx.server.infra.prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox_messages WHERE kind = 'password-reset' OR payload::text ILIKE ${`%${unknown}%`}`;
    expect(rows[0]!.n).toBe(0);
  });

  it('handles a request once, even when its job is delivered again after completing', async () => {
    const t = await register(fx.server, newIdentity('once'));
    const sealer = new Sealer(deriveKey(fx.server.infra.appSecret, 'data-encryption'));
    const id = randomUUID();
    const job = { sealedEmail: sealer.seal(t.user.email, `password-reset:${id}`) };
    // A row the relay will not pick up by itself: the test plays the relay re-offering it.
    await fx.server.infra.prisma.outboxMessage.create({ data: { id, kind: 'password-reset', payload: job, availableAt: new Date(Date.now() + 3_600_000) } });
    expect(await fx.server.services.passwordReset.handleRequest(id, job)).toBe('sent');
    expect(await fx.server.services.passwordReset.handleRequest(id, job)).toBe('handled');
    const tokens = await fx.server.infra.prisma.oneTimeToken.count({ where: { userId: t.user.id, purpose: 'PASSWORD_RESET' } });
    expect(tokens).toBe(1);
    // Sealed for another request, the address does not open.
    await expect(fx.server.services.passwordReset.handleRequest(randomUUID(), job)).rejects.toThrow();
  });

  it('a newer reset link voids the older one', async () => {
    const id = newIdentity('newer');
    const t = await register(fx.server, id);
    await gql(fx.server, REQUEST, { e: id.email });
    const first = tokenIn((await resetMail(t.user.email)).text);
    await gql(fx.server, REQUEST, { e: id.email });
    const second = tokenIn((await resetMail(t.user.email, first)).text);
    expect(codeOf((await gql(fx.server, RESET, { i: { token: first, newPassword: 'a fresh and long passphrase' } })).body)).toBe('INVALID_TOKEN');
    expect((await gql(fx.server, RESET, { i: { token: second, newPassword: 'a fresh and long passphrase' } })).body.data).toEqual({ resetPassword: true });
  });

  it('refuses an expired link', async () => {
    const id = newIdentity('expired');
    const t = await register(fx.server, id);
    await gql(fx.server, REQUEST, { e: id.email });
    const token = tokenIn((await resetMail(t.user.email)).text);
    await fx.server.infra.prisma.oneTimeToken.updateMany({ where: { userId: t.user.id, purpose: 'PASSWORD_RESET' }, data: { expiresAt: new Date(Date.now() - 1) } });
    const res = await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token, newPassword: 'a fresh and long passphrase' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('limits requests per submitted email, known or not (5 per hour by default)', async () => {
    for (const email of ['limit.unknown@example.com', (await register(fx.server)).user.email]) {
      for (let i = 0; i < 5; i++) expect((await rest(fx.server, 'POST', '/auth/reset-password/request', { email })).status).toBe(202);
      const limited = await rest(fx.server, 'POST', '/auth/reset-password/request', { email: email.toUpperCase().replace('@EXAMPLE.COM', '@example.com') });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toMatchObject({ code: 'RATE_LIMITED' });
      const viaGraphQL = await gql(fx.server, REQUEST, { e: email });
      expect(codeOf(viaGraphQL.body)).toBe('RATE_LIMITED');
      expect(viaGraphQL.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    }
  });

  it('refuses a malformed email with BAD_USER_INPUT', async () => {
    const res = await rest(fx.server, 'POST', '/auth/reset-password/request', { email: 'not-an-email' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'BAD_USER_INPUT', fields: { email: expect.any(String) } });
  });
});
