import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearRedisPrefix, uniquePrefix } from '../../test/harness.js';
import { Sealer } from '../crypto/sealed.js';
import { createLogger } from '../logger.js';
import { createRedis, type Redis } from '../redis.js';
import { createDevOutbox, extractLinks } from './dev-outbox.js';
import type { OutgoingEmail } from './sender.js';
import { verifyEmailTemplate } from '../../modules/email-verification/verify-email.template.js';
import { createMailRenderer } from './render.js';

const { render: renderEmail } = createMailRenderer([verifyEmailTemplate]);

const prefix = uniquePrefix('devmail');
const logs: string[] = [];
const log = createLogger({
  level: 'debug',
  destination: new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  }),
});
let redis: Redis;
const sealer = new Sealer(randomBytes(32));

beforeAll(async () => {
  redis = createRedis({ url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', name: 'latchkey-test-devmail' });
  await redis.connect();
});
afterAll(async () => {
  redis.disconnect();
  await clearRedisPrefix(prefix);
});

const token = (i: number) => `secretToken${i}_${'x'.repeat(30)}`;
function verifyMail(i: number, p = prefix): OutgoingEmail {
  const r = renderEmail('verify-email', { username: `user${i}`, link: `http://localhost:4000/auth/verify-email?token=${token(i)}`, expiresInHours: 24 });
  return { to: `user${i}@example.com`, from: 'Latchkey <no-reply@localhost>', ...r, idempotencyKey: `${p}key-${i}` };
}

describe('dev outbox', () => {
  it('keeps mail newest first with its links, returns dev-<uuid>, logs no token or body', async () => {
    const p = `${prefix}order:`;
    const outbox = createDevOutbox(redis, p, log, { sealer });
    expect(outbox.kind).toBe('dev-outbox');
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) ids.push((await outbox.send(verifyMail(i, p))).providerId);
    for (const id of ids) expect(id).toMatch(/^dev-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const list = await outbox.list();
    expect(list.map((m) => m.id)).toEqual([...ids].reverse());
    const newest = list[0]!;
    expect(newest.to).toBe('user3@example.com');
    expect(newest.subject).toBe('Verify your email address');
    expect(newest.links).toEqual([`http://localhost:4000/auth/verify-email?token=${token(3)}`]);
    expect(newest.text).toContain(`token=${token(3)}`);
    expect(newest.html).toContain(`token=${token(3)}`);
    expect(Date.parse(newest.sentAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await outbox.list(2)).toHaveLength(2);

    // The list expires (7 days) and is under the prefix.
    const ttl = await redis.ttl(`${p}dev-mail`);
    expect(ttl).toBeGreaterThan(6 * 24 * 3600);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);

    const lines = logs.filter((l) => l.includes('dev outbox')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ level: 'info', to: 'user3@example.com', subject: 'Verify your email address', id: ids[2] });
    const all = logs.join('\n');
    for (let i = 1; i <= 3; i++) expect(all).not.toContain(token(i));
    expect(all).not.toContain('verify-email?');
    expect(all).not.toContain('<!DOCTYPE');
  });

  it('caps the list at max', async () => {
    const p = `${prefix}cap:`;
    const outbox = createDevOutbox(redis, p, log, { sealer, max: 5 });
    for (let i = 1; i <= 8; i++) await outbox.send(verifyMail(i, p));
    expect(await redis.llen(`${p}dev-mail`)).toBe(5);
    const list = await outbox.list(100);
    expect(list.map((m) => m.to)).toEqual([8, 7, 6, 5, 4].map((i) => `user${i}@example.com`));
  });

  it('a repeated idempotency key answers the first id and keeps one mail', async () => {
    const p = `${prefix}idem:`;
    const outbox = createDevOutbox(redis, p, log, { sealer });
    const mail = verifyMail(1, p);
    const a = await outbox.send(mail);
    const b = await outbox.send(mail);
    expect(b.providerId).toBe(a.providerId);
    expect(await outbox.list()).toHaveLength(1);
  });

  it('stores each mail sealed: no token, address or body in clear in Redis, and lists only what it can open', async () => {
    const p = `${prefix}sealed:`;
    const outbox = createDevOutbox(redis, p, log, { sealer });
    await outbox.send(verifyMail(7, p));
    const raw = await redis.lrange(`${p}dev-mail`, 0, -1);
    expect(raw).toHaveLength(1);
    for (const value of raw) {
      expect(value).not.toContain(token(7));
      expect(value).not.toContain('user7@example.com');
      expect(value).not.toContain('verify-email');
      expect(value).not.toContain('Verify your email');
    }
    // Another deployment's key (or a rotated secret) cannot read it: the page skips it.
    const other = createDevOutbox(redis, p, log, { sealer: new Sealer(randomBytes(32)) });
    expect(await other.list()).toEqual([]);
    const [mail] = await outbox.list();
    expect(mail?.links).toEqual([`http://localhost:4000/auth/verify-email?token=${token(7)}`]);
  });

  it('extracts http(s) links without trailing punctuation or repeats', () => {
    expect(
      extractLinks('Open https://a.example/x?token=1. Or (http://b.example/y?token=2&z=3), again https://a.example/x?token=1\nftp://no'),
    ).toEqual(['https://a.example/x?token=1', 'http://b.example/y?token=2&z=3']);
  });
});
