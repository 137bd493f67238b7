import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { redisKeysContaining } from '../../test/redis-contents.js';
import { eventually } from '../../test/tcp-proxy.js';
import { UsersRepository } from '../identity/users.repository.js';
import type { StoredTemplateData } from '../mail/mail.repository.js';

/**
 * A server without workers: a request stays where the worker would pick it up (its outbox row, handed to
 * the queue), so the test sees every step the request took before any address was looked up.
 */
describe('MagicLinkService: the request tells nothing about the address', () => {
  const fx = useTestServer('magic-enum');
  const prisma = () => fx.server.infra.prisma;
  afterEach(() => vi.restoreAllMocks());

  /** Every table a lookup-dependent step would write to, counted. */
  const writes = async () => ({
    tokens: await prisma().oneTimeToken.count(),
    emails: await prisma().emailMessage.count(),
    events: await prisma().securityEvent.count(),
    audit: await prisma().auditEntry.count(),
    sessions: await prisma().session.count(),
  });
  const requestRows = () => prisma().outboxMessage.findMany({ where: { kind: 'magic-link' }, select: { id: true, payload: true } });

  /** Asks over REST; returns the answer and the outbox rows it added. */
  async function ask(email: string) {
    const before = new Set((await requestRows()).map((r) => r.id));
    const res = await fetch(`${fx.server.url}/auth/magic-link/request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) });
    const answer = { status: res.status, body: await res.text(), type: res.headers.get('content-type'), length: res.headers.get('content-length') };
    return { answer, added: (await requestRows()).filter((r) => !before.has(r.id)) };
  }

  it('a known and an unknown address: the same answer through the same steps (one sealed outbox row and its job, no lookup)', async () => {
    const known = (await register(fx.server)).user.email;
    const unknown = `nobody.${randomBytes(4).toString('hex')}@example.com`;
    const lookups = vi.spyOn(UsersRepository.prototype, 'findByIdentifier');
    const before = await writes();

    const [k, u] = [await ask(known), await ask(unknown)];
    expect(k.answer).toEqual({ status: 202, body: '', type: null, length: '0' });
    expect(u.answer).toEqual(k.answer);
    const viaGraphQL = await Promise.all([known, unknown].map((e) => gql(fx.server, 'mutation R($e: String!) { requestMagicLink(email: $e) }', { e })));
    expect(viaGraphQL[0]).toEqual({ status: 200, body: { data: { requestMagicLink: true } } });
    expect(viaGraphQL[1]).toEqual(viaGraphQL[0]);

    // Nothing but the request rows: no account was looked up, no token, email, event or audit entry written.
    expect(lookups).not.toHaveBeenCalled();
    expect(await writes()).toEqual(before);
    for (const [{ added }, email] of [[k, known], [u, unknown]] as const) {
      expect(added).toHaveLength(1);
      expect(Object.keys(added[0]!.payload as object)).toEqual(['sealedEmail']);
      expect(JSON.stringify(added[0]!.payload).toLowerCase()).not.toContain(email.toLowerCase());
      expect(await redisKeysContaining(fx.prefix, email)).toEqual([]);
    }

    // The relay hands both to the queue as the same kind of job; only the worker tells them apart.
    const queue = fx.server.infra.queues.queue('magic-link');
    const ids = [k.added[0]!.id, u.added[0]!.id];
    const jobs = await eventually(async () => Promise.all(ids.map((id) => queue.getJob(id))), (js) => js.every(Boolean));
    expect(jobs.map((j) => Object.keys(j!.data))).toEqual([['sealedEmail'], ['sealedEmail']]);
    expect(jobs[1]!.opts.attempts).toBe(jobs[0]!.opts.attempts);
    expect(await fx.server.services.magicLink.handleRequest(ids[0]!, jobs[0]!.data)).toBe('sent');
    expect(await fx.server.services.magicLink.handleRequest(ids[1]!, jobs[1]!.data)).toBe('unknown');
    expect(lookups).toHaveBeenCalledTimes(2);
    expect(await prisma().outboxMessage.count({ where: { id: { in: ids } } })).toBe(0);
  });

  it('opening the emailed link (GET) changes nothing: the service signs in on POST only', async () => {
    const t = await register(fx.server);
    const { added } = await ask(t.user.email);
    expect(await fx.server.services.magicLink.handleRequest(added[0]!.id, added[0]!.payload as { sealedEmail: string })).toBe('sent');
    const stored = await prisma().emailMessage.findFirstOrThrow({ where: { userId: t.user.id, template: 'magic-link' } });
    const link = String(fx.server.services.mail.open(stored.id, stored.data as unknown as StoredTemplateData).link);
    expect(link).toMatch(/^http:\/\/localhost:\d+\/account\/magic-link\?token=/);
    const token = new URL(link).searchParams.get('token')!;
    const sessions = () => prisma().session.count({ where: { userId: t.user.id } });
    const before = await sessions();

    // The link's own path on this service, the sign-in route, and a browser's navigation: none acts.
    for (const path of [`/magic-link?token=${token}`, `/auth/magic-link?token=${token}`, `/auth/magic-link/sign-in?token=${token}`]) {
      for (const accept of ['text/html', '*/*']) {
        const res = await fetch(`${fx.server.url}${path}`, { headers: { accept } });
        expect([404, 405]).toContain(res.status);
      }
    }
    // The link itself opens the account console's page, whose button posts the token: the GET does nothing.
    expect((await fetch(`${fx.server.url}/account/magic-link?token=${token}`, { headers: { accept: 'text/html' } })).status).toBe(200);
    expect(await sessions()).toBe(before);
    expect((await prisma().oneTimeToken.findFirstOrThrow({ where: { userId: t.user.id, purpose: 'MAGIC_LINK' } })).consumedAt).toBeNull();
    const res = await rest(fx.server, 'POST', '/auth/magic-link/sign-in', { token });
    expect(res.status).toBe(200);
    expect(await sessions()).toBe(before + 1);
  });
});
