import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codeOf, newIdentity, REGISTER, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

/**
 * Sign-up writes the account and everything that comes with it (its audit entry, the verification token,
 * the email and its outbox job, the first session with its refresh token, SIGNED_IN and `user.signed_in`)
 * in ONE statement: all of it or nothing, whichever part fails. No workers run here, so outbox rows stay
 * where sign-up left them and every table's count can be compared before and after.
 */
describe('sign-up in one statement', () => {
  const fx = useTestServer('signup');

  /** Row counts of everything a sign-up writes (audit entries by action, events by type). */
  async function counts(): Promise<Record<string, number>> {
    const [row] = await fx.server.infra.prisma.$queryRaw<Record<string, bigint>[]>`
      SELECT (SELECT count(*) FROM users) AS users,
             (SELECT count(*) FROM audit_log WHERE action = 'user.registered') AS registered,
             (SELECT count(*) FROM audit_log WHERE action = 'user.signed_in') AS signed_in_audit,
             (SELECT count(*) FROM audit_log) AS audit,
             (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM audit_seals) AS audit_chain,
             (SELECT count(*) FROM one_time_tokens) AS one_time_tokens,
             (SELECT count(*) FROM email_messages) AS email_messages,
             (SELECT count(*) FROM outbox_messages) AS outbox_messages,
             (SELECT count(*) FROM sessions) AS sessions,
             (SELECT count(*) FROM refresh_tokens) AS refresh_tokens,
             (SELECT count(*) FROM security_events WHERE type = 'SIGNED_IN') AS signed_in_events`;
    return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
  }

  /** What one successful sign-up adds to each count. */
  const ONE_SIGN_UP = {
    users: 1,
    registered: 1,
    signed_in_audit: 1,
    audit: 2,
    audit_chain: 2,
    one_time_tokens: 1,
    email_messages: 1,
    outbox_messages: 1,
    sessions: 1,
    refresh_tokens: 1,
    signed_in_events: 1,
  };
  const NOTHING = Object.fromEntries(Object.keys(ONE_SIGN_UP).map((k) => [k, 0]));
  const delta = (before: Record<string, number>, after: Record<string, number>) => Object.fromEntries(Object.keys(before).map((k) => [k, after[k]! - before[k]!]));

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes the account and all that comes with it in one statement', async () => {
    // Every statement this process sends to PostgreSQL (pg's Client, under Prisma's adapter), by text.
    const sent: string[] = [];
    const query = pg.Client.prototype.query;
    vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const first = args[0] as string | { text?: string } | undefined;
      sent.push(typeof first === 'string' ? first : (first?.text ?? ''));
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    const before = await counts();
    const id = newIdentity('one');
    const tokens = await register(fx.server, id, { 'user-agent': 'sign-up-test/1.0' });
    vi.restoreAllMocks();

    // Background passes (relay, sealer, publisher) run in this process too: they write none of these tables.
    const writes = sent.filter((t) => /INSERT INTO "?(public"?\.)?"?(users|audit_log|one_time_tokens|email_messages|outbox_messages|sessions|refresh_tokens|security_events)\b/.test(t));
    expect(writes).toHaveLength(1);
    expect(delta(before, await counts())).toEqual(ONE_SIGN_UP);

    // Each row as the flows that read it expect it.
    const prisma = fx.server.infra.prisma;
    const userId = tokens.user.id;
    const audit = await prisma.auditEntry.findMany({ where: { targetUserId: userId }, orderBy: { occurredAt: 'asc' } });
    expect(audit.map((a) => a.action).sort()).toEqual(['user.registered', 'user.signed_in']);
    for (const a of audit) expect(a).toMatchObject({ outcome: 'SUCCESS', actorId: userId, userAgent: 'sign-up-test/1.0', ip: expect.any(String), requestId: expect.any(String) });
    const session = await prisma.session.findFirstOrThrow({ where: { userId }, include: { refreshTokens: true } });
    expect(session.userAgent).toBe('sign-up-test/1.0');
    expect(session.refreshTokens).toHaveLength(1);
    expect(audit.find((a) => a.action === 'user.signed_in')).toMatchObject({ sessionId: session.id, details: { method: 'sign_up' } });
    expect(audit.find((a) => a.action === 'user.registered')).toMatchObject({ sessionId: null, details: null });
    expect(await prisma.securityEvent.findMany({ where: { userId }, select: { type: true, sessionId: true, actorId: true } })).toEqual([
      { type: 'SIGNED_IN', sessionId: session.id, actorId: userId },
    ]);
    const token = await prisma.oneTimeToken.findFirstOrThrow({ where: { userId } });
    expect(token).toMatchObject({ purpose: 'EMAIL_VERIFICATION', consumedAt: null, sessionId: null });
    expect(token.expiresAt.getTime() - token.createdAt.getTime()).toBe(24 * 3600 * 1000);
    const email = await prisma.emailMessage.findFirstOrThrow({ where: { userId } });
    expect(email).toMatchObject({ template: 'verify-email', toAddress: tokens.user.email, status: 'QUEUED', idempotencyKey: `latchkey-email-${email.id}` });
    // The link is sealed; the rest is plain.
    expect(email.data).toMatchObject({ plain: { username: id.username, expiresInHours: 24 }, sealed: { link: expect.any(String) } });
    expect(JSON.stringify(email.data)).not.toContain('verify-email?token=');
    const outbox = await prisma.outboxMessage.findMany({ where: { kind: 'email' }, select: { payload: true } });
    expect(outbox.map((o) => o.payload)).toContainEqual({ emailMessageId: email.id });
  });

  it('refuses a taken username, in any case, with USERNAME_TAKEN on the field, and writes nothing', async () => {
    const id = newIdentity('name');
    await register(fx.server, id);
    const before = await counts();
    const res = await gql(fx.server, REGISTER, { input: { ...newIdentity('other'), username: id.username.toUpperCase() } });
    expect(codeOf(res.body)).toBe('USERNAME_TAKEN');
    expect(res.body.errors?.[0]?.extensions?.fields).toEqual({ username: 'is already taken' });
    expect(delta(before, await counts())).toEqual(NOTHING);
  });

  it('refuses a taken email, in any case, with EMAIL_TAKEN on the field (both doors), and writes nothing', async () => {
    const id = newIdentity('mail');
    await register(fx.server, id);
    const before = await counts();
    const res = await gql(fx.server, REGISTER, { input: { ...newIdentity('other'), email: id.email.toLowerCase() } });
    expect(codeOf(res.body)).toBe('EMAIL_TAKEN');
    expect(res.body.errors?.[0]?.extensions?.fields).toEqual({ email: 'is already registered' });
    const viaRest = await rest(fx.server, 'POST', '/auth/register', { ...newIdentity('other'), email: id.email.toUpperCase() });
    expect(viaRest.status).toBe(409);
    expect(viaRest.body).toMatchObject({ code: 'EMAIL_TAKEN', fields: { email: 'is already registered' } });
    expect(delta(before, await counts())).toEqual(NOTHING);
  });

  it.each([
    ['username', 'USERNAME_TAKEN'],
    ['email', 'EMAIL_TAKEN'],
  ] as const)('race on one %s: exactly one of eight concurrent sign-ups wins, the others get %s, nothing half-written', async (field, code) => {
    const shared = newIdentity('race');
    const before = await counts();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => gql(fx.server, REGISTER, { input: { ...newIdentity('race'), [field]: shared[field] } })),
    );
    const codes = results.map((r) => codeOf(r.body) ?? 'OK').sort();
    expect(codes).toEqual([...Array.from({ length: 7 }, () => code), 'OK'].sort());
    // One account's rows and no more: no orphan audit entry, token, email, outbox job or session of a loser.
    expect(delta(before, await counts())).toEqual(ONE_SIGN_UP);
  });

  it('a failure in a later part of the statement (the session) leaves nothing behind', async () => {
    // A constraint only this test's client trips: the session row, written after the user, its audit entry,
    // the token, the email and the outbox job, is refused.
    await fx.server.infra.prisma.$executeRawUnsafe(`ALTER TABLE sessions ADD CONSTRAINT sign_up_test_refused CHECK (user_agent IS DISTINCT FROM 'refuse-my-session')`);
    try {
      const before = await counts();
      const id = newIdentity('half');
      const res = await gql(fx.server, REGISTER, { input: id }, { 'user-agent': 'refuse-my-session' });
      expect(codeOf(res.body)).toBe('INTERNAL_SERVER_ERROR');
      expect(await fx.server.infra.prisma.user.count({ where: { username: id.username } })).toBe(0);
      expect(delta(before, await counts())).toEqual(NOTHING);
      // The same identity signs up once the refusal is gone: nothing of the failed attempt holds it.
      await fx.server.infra.prisma.$executeRawUnsafe('ALTER TABLE sessions DROP CONSTRAINT sign_up_test_refused');
      await register(fx.server, id);
    } finally {
      await fx.server.infra.prisma.$executeRawUnsafe('ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sign_up_test_refused');
    }
  });
});
