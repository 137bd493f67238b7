import { describe, expect, it } from 'vitest';
import { bearer, codeOf, login, newIdentity, refresh, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn, verifyEmailOf } from '../../test/mail-server.js';
import { eventually } from '../../test/tcp-proxy.js';
import { stepNow, totpAt } from '../../test/totp.js';

const SESSIONS = 'query { sessions { id current } }';
const CHANGE = 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }';
const REAUTH = 'mutation R($p: String!) { reauthenticate(password: $p) }';
const START = 'mutation { startTotpEnrollment { secret } }';
const CONFIRM = 'mutation C($code: String!) { confirmTotpEnrollment(code: $code) }';
const DISABLE = 'mutation D($code: String!) { disableTotp(code: $code) }';
const MFA_LOGIN = 'mutation L($i: LoginInput!) { login(input: $i) { __typename ... on MfaChallenge { mfaToken } } }';
const COMPLETE = 'mutation M($i: CompleteMfaLoginInput!) { completeMfaLogin(input: $i) { accessToken } }';

/**
 * Every audit action the flows of today perform, through the public API: who acted, whom it concerns,
 * the outcome, and what it must never hold. Entries of the admin API and of alerts belong to those features.
 */
describe('audit entries of every flow', () => {
  const fx = useTestServer('audit-entries', { mail: true, env: { LOCKOUT_THRESHOLD: '3', RATE_LIMIT_MFA: '5/300' } });
  const prisma = () => fx.server.infra.prisma;
  const entries = (where: { action?: string; targetUserId?: string | null; actorId?: string | null }) =>
    prisma().auditEntry.findMany({ where, orderBy: [{ occurredAt: 'asc' }, { id: 'asc' }] });
  const sessionOf = async (accessToken: string) =>
    (await gql<{ sessions: { id: string; current: boolean }[] }>(fx.server, SESSIONS, undefined, bearer(accessToken))).body.data!.sessions.find((s) => s.current)!.id;

  it('sign-up: user.registered and user.signed_in, by the new account, with the request it came from', async () => {
    const res = await fetch(`${fx.server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'audit-test/1.0', 'x-request-id': 'req-signup-1' },
      body: JSON.stringify(newIdentity('signup')),
    });
    const t = (await res.json()) as { accessToken: string; user: { id: string } };
    const id = t.user.id;
    const [registered] = await entries({ action: 'user.registered', targetUserId: id });
    expect(registered).toMatchObject({ outcome: 'SUCCESS', actorId: id, targetUserId: id, ip: '127.0.0.1', userAgent: 'audit-test/1.0', requestId: 'req-signup-1' });
    const [signedIn] = await entries({ action: 'user.signed_in', targetUserId: id });
    expect(signedIn).toMatchObject({ outcome: 'SUCCESS', actorId: id, sessionId: await sessionOf(t.accessToken), requestId: 'req-signup-1', details: { method: 'sign_up' } });
  });

  it('sign-in: user.signed_in; a wrong password and an unknown identifier: user.sign_in_failed, the identifier only as a keyed hash', async () => {
    const id = newIdentity('signin');
    const t = await register(fx.server, id);
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBeUndefined();
    expect((await entries({ action: 'user.signed_in', targetUserId: t.user.id })).map((e) => (e.details as { method: string }).method)).toEqual(['sign_up', 'password']);

    expect(codeOf((await login(fx.server, id.username, 'not-the-password')).body)).toBe('INVALID_CREDENTIALS');
    const [wrong] = await entries({ action: 'user.sign_in_failed', targetUserId: t.user.id });
    expect(wrong).toMatchObject({ outcome: 'FAILURE', actorId: null, details: { reason: 'invalid_credentials' } });

    const nobody = `nobody-${id.username}@example.com`;
    expect(codeOf((await login(fx.server, nobody, 'whatever-password')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, nobody.toUpperCase(), 'whatever-password')).body)).toBe('INVALID_CREDENTIALS');
    const unknown = (await entries({ action: 'user.sign_in_failed', targetUserId: null })).filter((e) => e.occurredAt >= wrong!.occurredAt);
    const mine = unknown.slice(-2);
    expect(mine).toHaveLength(2);
    for (const e of mine) {
      expect(e).toMatchObject({ outcome: 'FAILURE', actorId: null, targetUserId: null, details: { reason: 'invalid_credentials' } });
      expect(JSON.stringify(e).toLowerCase()).not.toContain(nobody.toLowerCase());
      expect(JSON.stringify(e)).not.toContain('whatever-password');
    }
    // One identifier, one hash (as normalised for the lookup): failures can be counted per identifier.
    const hashes = mine.map((e) => (e.details as { identifierHash: string }).identifierHash);
    expect(hashes[0]).toMatch(/^[\w-]{8}\.[\w-]{43}$/);
    expect(hashes[1]).toBe(hashes[0]);
    expect((wrong!.details as { identifierHash: string }).identifierHash).not.toBe(hashes[0]);
  });

  it('a lockout: user.locked by the system, then user.sign_in_failed (locked) while it holds', async () => {
    const id = newIdentity('locked');
    const t = await register(fx.server, id);
    // From elsewhere (another client than the sign-up's): the identifier's count locks at the third failure.
    const elsewhere = { 'user-agent': 'stranger/1.0' };
    for (let i = 0; i < 3; i++) await login(fx.server, id.username, `wrong-${i}`, elsewhere);
    const [locked] = await entries({ action: 'user.locked', targetUserId: t.user.id });
    expect(locked).toMatchObject({ outcome: 'SUCCESS', actorId: null, userAgent: 'stranger/1.0' });
    expect(codeOf((await login(fx.server, id.username, id.password, elsewhere)).body)).toBe('ACCOUNT_LOCKED');
    const failures = await entries({ action: 'user.sign_in_failed', targetUserId: t.user.id });
    expect(failures.map((e) => (e.details as { reason: string }).reason)).toEqual(['invalid_credentials', 'invalid_credentials', 'invalid_credentials', 'locked']);

    // The unlock link from the email: user.unlocked, by the owner (the link's holder).
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, id.email.split('@')[0]!) && /locked/i.test(m.subject), 10_000);
    expect((await rest(fx.server, 'POST', '/auth/unlock-account', { token: tokenIn(mail.text) })).status).toBe(200);
    const [unlocked] = await entries({ action: 'user.unlocked', targetUserId: t.user.id });
    expect(unlocked).toMatchObject({ outcome: 'SUCCESS', actorId: t.user.id });
  });

  it('a disabled account signing in with the right password: user.sign_in_failed (disabled)', async () => {
    const id = newIdentity('disabled');
    const t = await register(fx.server, id);
    await prisma().user.update({ where: { id: t.user.id }, data: { disabledAt: new Date(), disabledReason: 'test' } });
    expect(codeOf((await login(fx.server, id.email, id.password)).body)).toBe('ACCOUNT_DISABLED');
    const [refused] = await entries({ action: 'user.sign_in_failed', targetUserId: t.user.id });
    expect(refused).toMatchObject({ outcome: 'FAILURE', actorId: null, details: { reason: 'disabled' } });
  });

  it('sign-out, revocation and refresh-token reuse: one entry per ended session, saying who ended it', async () => {
    const id = newIdentity('sessions');
    const t = await register(fx.server, id);
    const second = (await login(fx.server, id.username, id.password)).body.data!.login;
    const secondId = await sessionOf(second.accessToken);
    await gql(fx.server, 'mutation R($id: ID!) { revokeSession(id: $id) }', { id: secondId }, bearer(t.accessToken));
    expect(await entries({ action: 'session.revoked', targetUserId: t.user.id })).toEqual([
      expect.objectContaining({ outcome: 'SUCCESS', actorId: t.user.id, sessionId: secondId, details: { reason: 'revoked' } }),
    ]);

    const third = (await login(fx.server, id.username, id.password)).body.data!.login;
    const thirdId = await sessionOf(third.accessToken);
    const rotated = (await refresh(fx.server, third.refreshToken)).body.data!.refresh;
    expect(codeOf((await refresh(fx.server, third.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');
    expect(await entries({ action: 'session.refresh_token_reused', targetUserId: t.user.id })).toEqual([
      expect.objectContaining({ outcome: 'SUCCESS', actorId: null, sessionId: thirdId, details: { reason: 'refresh_token_reused' } }),
    ]);
    expect(rotated.accessToken).toBeTruthy();

    const mySession = await sessionOf(t.accessToken);
    await gql(fx.server, 'mutation { logout }', undefined, bearer(t.accessToken));
    expect(await entries({ action: 'user.signed_out', targetUserId: t.user.id })).toEqual([
      expect.objectContaining({ outcome: 'SUCCESS', actorId: t.user.id, sessionId: mySession, details: { reason: 'logout' } }),
    ]);
  });

  it('password change and reauthentication: failures and successes, with the session that asked', async () => {
    const id = newIdentity('change');
    const t = await register(fx.server, id);
    const session = await sessionOf(t.accessToken);
    const other = (await login(fx.server, id.username, id.password)).body.data!.login;
    const otherSession = await sessionOf(other.accessToken);

    expect(codeOf((await gql(fx.server, REAUTH, { p: 'wrong password' }, bearer(t.accessToken))).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await gql(fx.server, REAUTH, { p: id.password }, bearer(t.accessToken))).body)).toBeUndefined();
    expect((await entries({ action: 'user.reauthenticated', targetUserId: t.user.id })).map((e) => [e.outcome, e.actorId, e.sessionId, e.details])).toEqual([
      ['FAILURE', t.user.id, session, { reason: 'invalid_credentials' }],
      ['SUCCESS', t.user.id, session, null],
    ]);

    const next = newIdentity('x').password;
    expect(codeOf((await gql(fx.server, CHANGE, { i: { currentPassword: 'wrong password', newPassword: next } }, bearer(t.accessToken))).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: next } }, bearer(t.accessToken))).body)).toBeUndefined();
    expect((await entries({ action: 'user.password_changed', targetUserId: t.user.id })).map((e) => [e.outcome, e.actorId, e.sessionId])).toEqual([
      ['FAILURE', t.user.id, session],
      ['SUCCESS', t.user.id, session],
    ]);
    expect(await entries({ action: 'session.revoked', targetUserId: t.user.id })).toEqual([
      expect.objectContaining({ actorId: t.user.id, sessionId: otherSession, details: { reason: 'password_changed' } }),
    ]);
  });

  it('password reset: requested (known address: its account; unknown: a keyed hash), and done', async () => {
    const id = newIdentity('reset');
    const t = await register(fx.server, id);
    const requested = await fetch(`${fx.server.url}/auth/reset-password/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-reset-1', 'user-agent': 'reset-client/2' },
      body: JSON.stringify({ email: id.email }),
    });
    expect(requested.status).toBe(202);
    const unknownEmail = `unknown-${id.username}@example.com`;
    const unknownRequest = await fetch(`${fx.server.url}/auth/reset-password/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-reset-unknown' },
      body: JSON.stringify({ email: unknownEmail }),
    });
    expect(unknownRequest.status).toBe(202);

    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, id.email.split('@')[0]!) && /reset/i.test(m.subject), 10_000);
    const [known] = await eventually(() => entries({ action: 'user.password_reset_requested', targetUserId: t.user.id }), (r) => r.length === 1);
    expect(known).toMatchObject({ outcome: 'SUCCESS', actorId: null, ip: '127.0.0.1', userAgent: 'reset-client/2', requestId: 'req-reset-1' });
    const unknown = await eventually(
      // The two requests are handled by the worker in either order: tell them apart by request id.
      async () => (await entries({ action: 'user.password_reset_requested', targetUserId: null })).filter((e) => e.requestId === 'req-reset-unknown'),
      (r) => r.length >= 1,
    );
    expect(unknown[0]).toMatchObject({ outcome: 'FAILURE', details: { reason: 'unknown_address' } });
    expect(JSON.stringify(unknown).toLowerCase()).not.toContain(unknownEmail.toLowerCase());

    expect((await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token: tokenIn(mail.text), newPassword: newIdentity('y').password })).status).toBe(204);
    const [reset] = await entries({ action: 'user.password_reset', targetUserId: t.user.id });
    expect(reset).toMatchObject({ outcome: 'SUCCESS', actorId: t.user.id });
    expect((await entries({ action: 'session.revoked', targetUserId: t.user.id })).map((e) => (e.details as { reason: string }).reason)).toEqual(['password_reset']);
  });

  it('email verified, MFA enabled, a wrong code at sign-in (mfa_failed), MFA sign-in, MFA disable refused then done', async () => {
    const id = newIdentity('mfa');
    const t = await register(fx.server, id);
    await verifyEmailOf(fx.server, fx.mail, t.user.email);
    expect(await entries({ action: 'user.email_verified', targetUserId: t.user.id })).toEqual([expect.objectContaining({ outcome: 'SUCCESS', actorId: t.user.id })]);

    const { secret } = (await gql<{ startTotpEnrollment: { secret: string } }>(fx.server, START, undefined, bearer(t.accessToken))).body.data!.startTotpEnrollment;
    expect(codeOf((await gql(fx.server, CONFIRM, { code: totpAt(secret, stepNow() - 1) }, bearer(t.accessToken))).body)).toBeUndefined();
    expect(await entries({ action: 'user.mfa_enabled', targetUserId: t.user.id })).toEqual([expect.objectContaining({ outcome: 'SUCCESS', actorId: t.user.id })]);

    const challenge = async () => (await gql<{ login: { mfaToken: string } }>(fx.server, MFA_LOGIN, { i: { identifier: id.username, password: id.password } })).body.data!.login.mfaToken;
    const token = await challenge();
    expect(codeOf((await gql(fx.server, COMPLETE, { i: { mfaToken: token, code: '000000' } })).body)).toBe('INVALID_TOKEN');
    expect(await entries({ action: 'user.sign_in_failed', targetUserId: t.user.id })).toEqual([
      expect.objectContaining({ outcome: 'FAILURE', actorId: null, details: expect.objectContaining({ reason: 'mfa_failed' }) }),
    ]);
    expect(codeOf((await gql(fx.server, COMPLETE, { i: { mfaToken: token, code: totpAt(secret, stepNow()) } })).body)).toBeUndefined();
    const signIns = await entries({ action: 'user.signed_in', targetUserId: t.user.id });
    expect(signIns.at(-1)!.details).toEqual({ method: 'password_mfa' });

    expect(codeOf((await gql(fx.server, DISABLE, { code: '000000' }, bearer(t.accessToken))).body)).toBe('INVALID_TOKEN');
    expect(codeOf((await gql(fx.server, DISABLE, { code: totpAt(secret, stepNow() + 1) }, bearer(t.accessToken))).body)).toBeUndefined();
    expect((await entries({ action: 'user.mfa_disabled', targetUserId: t.user.id })).map((e) => [e.outcome, e.actorId])).toEqual([
      ['FAILURE', t.user.id],
      ['SUCCESS', t.user.id],
    ]);
  });

  it('a failed audit write fails the action: nothing happens unaudited', async () => {
    const id = newIdentity('atomic');
    const t = await register(fx.server, id);
    const before = await prisma().user.findUniqueOrThrow({ where: { id: t.user.id }, select: { passwordHash: true } });
    // A stand-in for any failure of the audit insert (a full disk, a lost connection), for this one action.
    await prisma().$executeRawUnsafe(`ALTER TABLE audit_log ADD CONSTRAINT test_refuse_change CHECK (action <> 'user.password_changed') NOT VALID`);
    try {
      const res = await gql(fx.server, CHANGE, { i: { currentPassword: id.password, newPassword: newIdentity('z').password } }, bearer(t.accessToken));
      expect(codeOf(res.body)).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await prisma().$executeRawUnsafe('ALTER TABLE audit_log DROP CONSTRAINT test_refuse_change');
    }
    const after = await prisma().user.findUniqueOrThrow({ where: { id: t.user.id }, select: { passwordHash: true } });
    expect(after.passwordHash).toBe(before.passwordHash);
    expect(await prisma().securityEvent.count({ where: { userId: t.user.id, type: 'PASSWORD_CHANGED' } })).toBe(0);
  });

  it('writes each entry as one JSON log line with "audit": true and its seal, never a password', async () => {
    const id = newIdentity('logline');
    const t = await register(fx.server, id);
    await login(fx.server, id.username, 'a-wrong-password-123');
    const failed = (await entries({ action: 'user.sign_in_failed', targetUserId: t.user.id }))[0]!;
    const line = await eventually(
      async () => fx.server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.audit === true && l.id === failed.id),
      (l) => l !== undefined,
    );
    expect(line).toMatchObject({ action: 'user.sign_in_failed', outcome: 'failure', target_user_id: t.user.id, src_ip: '127.0.0.1', ocsf: { class_uid: 3002, activity_id: 1, status_id: 2 } });
    expect((line!.seal as { hash: string }).hash).toMatch(/^[0-9a-f]{64}$/);
    expect(fx.server.logs.filter((l) => l.includes(failed.id) && l.includes('"audit":true'))).toHaveLength(1);
    expect(fx.server.logs.join('\n')).not.toContain('a-wrong-password-123');
    expect(fx.server.logs.join('\n')).not.toContain(id.password);
  });
});

describe('audit entries of refused sign-ins past a rate limit', () => {
  const fx = useTestServer('audit-limited', { env: { RATE_LIMIT_LOGIN: '2/900' } });

  it('records the first refusal of each window once, however many follow', async () => {
    const id = newIdentity('limited');
    const t = await register(fx.server, id);
    for (let i = 0; i < 2; i++) expect(codeOf((await login(fx.server, id.username, `wrong-${i}`)).body)).toBe('INVALID_CREDENTIALS');
    for (let i = 0; i < 3; i++) expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBe('RATE_LIMITED');
    const refused = await fx.server.infra.prisma.auditEntry.findMany({ where: { action: 'user.sign_in_failed' }, orderBy: { occurredAt: 'asc' } });
    expect(refused.map((e) => (e.details as { reason: string }).reason)).toEqual(['invalid_credentials', 'invalid_credentials', 'rate_limited']);
    // Refused before any lookup: the account is not named, only the identifier's keyed hash and the limit.
    expect(refused[2]).toMatchObject({ targetUserId: null, details: { limit: 'login', identifierHash: (refused[0]!.details as { identifierHash: string }).identifierHash } });
    expect(t.user.id).toBeTruthy();
  });
});
