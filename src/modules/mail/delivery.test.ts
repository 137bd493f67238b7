import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeEmail } from '../identity/identifiers.js';
import { login, newIdentity, register, REGISTER } from '../../test/auth-client.js';
import { gql, useTestServers, type ProxiedLink, type TestServer } from '../../test/harness.js';
import { attemptsFor, sentTo } from '../../test/mail-server.js';
import { spawnEntry } from '../../test/process.js';
import { eventually } from '../../test/tcp-proxy.js';

describe('email delivery', () => {
  const fx = useTestServers('delivery', { mail: true });
  let server: TestServer;
  let redisProxy: ProxiedLink;

  beforeAll(async () => {
    redisProxy = await fx.redisProxy();
    server = await fx.start({ env: { EMAIL_MAX_ATTEMPTS: '4', REDIS_URL: redisProxy.url } });
  });

  const rowOf = (userId: string) => eventually(
    () => server.infra.prisma.emailMessage.findFirstOrThrow({ where: { userId } }),
    (r) => r.status !== 'QUEUED',
    15_000,
  );

  it('after two failures the email is delivered exactly once, with the same idempotency key on every attempt', async () => {
    fx.mail.failNext(2, 500);
    const t = await register(server);
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email), 15_000);
    const attempts = attemptsFor(fx.mail, t.user.email);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(fx.mail.delivered.filter((m) => sentTo(m, t.user.email))).toHaveLength(1);
    const row = await rowOf(t.user.id);
    expect(row).toMatchObject({ status: 'SENT', providerId: mail.id, attempts: 3, idempotencyKey: attempts[0]!.headers['idempotency-key'] });
  });

  it('emails a new sign-in notice with the device and time, once per new device', async () => {
    const id = newIdentity('notice');
    const t = await register(server, id);
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
    const safari = 'Mozilla/5.0 (iPhone; CPU iPhone OS 19_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.0 Mobile/15E148 Safari/604.1';
    await login(server, id.username, id.password, { 'user-agent': firefox });
    const notice = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /sign-in/i.test(m.subject), 10_000);
    // The device as parsed from the User-Agent (the header itself is never shown).
    expect(notice.text).toContain('Firefox 140 on Linux');
    expect(notice.text).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(notice.html ?? '').toContain('Firefox 140 on Linux');
    // The same device again is not news; another one is.
    await login(server, id.username, id.password, { 'user-agent': firefox });
    await login(server, id.username, id.password, { 'user-agent': safari });
    await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && (m.text ?? '').includes('Safari 19 on iOS'), 10_000);
    const notices = fx.mail.delivered.filter((m) => sentTo(m, t.user.email) && /sign-in/i.test(m.subject));
    expect(notices.map((m) => (m.text ?? '').includes('Firefox') ? 'firefox' : 'safari')).toEqual(['firefox', 'safari']);
  });

  it('never puts the User-Agent itself (links, markup) into the sign-in notice', async () => {
    const cases = [
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0 <a href="https://evil.example/phish">Click https://evil.example/phish</a>', 'Firefox 128 on Windows'],
      ['Urgent: confirm at https://evil.example/phish <img src=x>/1.0 (Visit evil.example)', 'an unknown browser'],
    ] as const;
    for (const [userAgent, shown] of cases) {
      const id = newIdentity('uabait');
      const t = await register(server, id);
      await login(server, id.username, id.password, { 'user-agent': userAgent });
      const notice = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /sign-in/i.test(m.subject), 10_000);
      expect(notice.text).toContain(`Device:     ${shown}\n`);
      expect(notice.html ?? '').toContain(`${shown}</td>`);
      for (const part of [notice.text ?? '', notice.html ?? '']) {
        expect(part).not.toContain('evil.example');
        expect(part).not.toMatch(/<img|&lt;img|Click|Urgent/);
      }
    }
  });

  it('retries after 429 too', async () => {
    fx.mail.failNext(1, 429);
    const t = await register(server);
    await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email), 15_000);
    expect((await rowOf(t.user.id)).status).toBe('SENT');
  });

  it('marks the email FAILED after its last attempt, with the reason, in logs and metrics', async () => {
    const id = newIdentity('doomed');
    fx.mail.failNext(4, 503);
    const t = await register(server, id);
    const row = await rowOf(t.user.id);
    expect(row.status).toBe('FAILED');
    expect(row.attempts).toBe(4);
    expect(row.lastError).toBeTruthy();
    expect(server.logs.some((l) => l.includes('"msg":"email failed after its last attempt"') && l.includes(row.id))).toBe(true);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_emails_total\{template="verify-email",outcome="failed"\} [1-9]/);
  });

  it('does not retry a permanent refusal (422)', async () => {
    const id = newIdentity('refused');
    fx.mail.reject(normalizeEmail(id.email), 422);
    const t = await register(server, id);
    const row = await rowOf(t.user.id);
    expect(row).toMatchObject({ status: 'FAILED', attempts: 1 });
  });

  it('keeps answering sign-ups while the email provider is down', async () => {
    fx.mail.failNext(1_000, 500);
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => gql(server, REGISTER, { input: newIdentity('down') })));
      for (const r of results) expect(r.body.errors).toBeUndefined();
    } finally {
      fx.mail.failNext(0);
    }
  });

  it('loses nothing when Redis is down between the commit and the enqueue', async () => {
    redisProxy.cut();
    let t;
    try {
      t = await register(server); // the sign-up commits; handing its email to BullMQ fails for now
      const email = await server.infra.prisma.emailMessage.findFirstOrThrow({ where: { userId: t.user.id } });
      const row = await server.infra.prisma.outboxMessage.findFirstOrThrow({ where: { kind: 'email', payload: { equals: { emailMessageId: email.id } } } });
      await eventually(() => server.infra.prisma.outboxMessage.findUniqueOrThrow({ where: { id: row.id } }), (r) => r.attempts > 0 && !r.dispatchedAt, 10_000);
    } finally {
      redisProxy.restore();
    }
    // Redis back: the relay's next sweep hands the row over, and the workers (which must survive the
    // outage: see createRedis' `lazy`) deliver it.
    await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email), 45_000);
  }, 60_000);
});

describe('a worker killed in the middle of a job', () => {
  const fx = useTestServers('killed', { mail: true });
  let api: TestServer;

  beforeAll(async () => {
    api = await fx.start({ workers: false });
  });

  it('does not lose the email: another worker delivers it, once', async () => {
    // The API's secrets and the double's address: the workers open what the API sealed and send through it.
    const env = fx.entryEnv();
    fx.mail.hangNext(1);
    const first = spawnEntry('src/worker.ts', env);
    try {
      await first.waitFor('latchkey worker is ready');
      const t = await register(api);
      await eventually(async () => attemptsFor(fx.mail, t.user.email).length, (n) => n === 1, 15_000);
      first.child.kill('SIGKILL'); // mid-send: the provider has not answered
      await first.exited();
      fx.mail.releaseHangs();
      const second = spawnEntry('src/worker.ts', env);
      try {
        await second.waitFor('latchkey worker is ready');
        await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email), 20_000);
        const row = await eventually(() => api.infra.prisma.emailMessage.findFirstOrThrow({ where: { userId: t.user.id } }), (r) => r.status === 'SENT', 10_000);
        expect(row.status).toBe('SENT');
        expect(fx.mail.delivered.filter((m) => sentTo(m, t.user.email))).toHaveLength(1);
      } finally {
        second.child.kill('SIGTERM');
        await second.exited();
      }
    } finally {
      first.child.kill('SIGKILL');
    }
  });
});
