import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../infra/errors.js';
import { sessionsOverFakes } from '../../test/fakes/sessions.js';

const T0 = Date.UTC(2030, 0, 1);
const s = (seconds: number) => seconds * 1000;
const meta = { requestId: 'r1', ip: '198.51.100.7', userAgent: 'unit' };
const outcome = (p: Promise<unknown>) => p.then(() => 'rotated', (e: unknown) => (e instanceof AppError ? e.code : String(e)));

/** A signed-in session over the fakes (refresh TTL 1000 s, idle 300 s), and its first refresh token. */
async function signedIn() {
  const f = await sessionsOverFakes({ now: T0, refreshTtlSeconds: 1000, idleTtlSeconds: 300 });
  const userId = randomUUID();
  const first = await (await f.service.open(f.repo.tx, userId, meta))();
  const reuseEvents = () => f.repo.events.filter((e) => e.type === 'REFRESH_TOKEN_REUSED');
  return { ...f, userId, first, reuseEvents };
}

describe('refresh rotation and reuse detection (SessionsService.refresh)', () => {
  it('rotated: a new pair for the same session, whose idle end moves on but never past its absolute end', async () => {
    const f = await signedIn();
    f.clock.now = T0 + s(200);
    const next = await f.service.refresh(f.first.refreshToken, meta);
    expect(next).toMatchObject({ sessionId: f.first.sessionId, userId: f.userId, user: { id: f.userId }, tokenType: 'Bearer' });
    expect(next.refreshToken).not.toBe(f.first.refreshToken);
    expect(f.repo.sessions.get(f.first.sessionId)!.idleExpiresAt).toEqual(new Date(T0 + s(500)));
    f.clock.now = T0 + s(450);
    const again = await f.service.refresh(next.refreshToken, meta);
    f.clock.now = T0 + s(720);
    await f.service.refresh(again.refreshToken, meta);
    expect(f.repo.sessions.get(f.first.sessionId)!.idleExpiresAt).toEqual(new Date(T0 + s(1000)));
    expect(await f.service.checkSession(f.userId, f.first.sessionId)).toMatchObject({ liveUntil: T0 + s(1000) });
  });

  it('reused while the session is live: REFRESH_TOKEN_REUSED, the session ends in Redis and PostgreSQL, the event is recorded', async () => {
    const f = await signedIn();
    const next = await f.service.refresh(f.first.refreshToken, meta);
    expect(await outcome(f.service.refresh(f.first.refreshToken, meta))).toBe('REFRESH_TOKEN_REUSED');
    expect(f.cache.entries.get(f.first.sessionId)).toEqual({ state: 'revoked' });
    expect(f.repo.sessions.get(f.first.sessionId)).toMatchObject({ revokedAt: new Date(T0), revokeReason: 'refresh_token_reused' });
    expect(f.reuseEvents()).toEqual([
      expect.objectContaining({ userId: f.userId, sessionId: f.first.sessionId, ip: meta.ip, userAgent: meta.userAgent, data: { reason: 'refresh_token_reused' } }),
    ]);
    // Whoever held the newer token is out too, and the access tokens of the session stop at once.
    expect(await outcome(f.service.refresh(next.refreshToken, meta))).toBe('UNAUTHENTICATED');
    await expect(f.service.authenticate(`Bearer ${next.accessToken}`)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const warning = f.logs.find((l) => l.includes('refresh token reuse'));
    expect(warning).toBeDefined();
    expect(warning).not.toContain(f.first.refreshToken);
  });

  it('two refreshes racing with one token: the loser counts as reuse and the session ends (clients must not share a refresh token)', async () => {
    const f = await signedIn();
    const results = await Promise.all([outcome(f.service.refresh(f.first.refreshToken, meta)), outcome(f.service.refresh(f.first.refreshToken, meta))]);
    expect(results.sort()).toEqual(['REFRESH_TOKEN_REUSED', 'rotated']);
    expect(f.repo.sessions.get(f.first.sessionId)!.revokedAt).not.toBeNull();
    expect(f.reuseEvents()).toHaveLength(1);
  });

  it('unknown or malformed: UNAUTHENTICATED, nothing ended; a malformed one never reaches the store', async () => {
    const f = await signedIn();
    expect(await outcome(f.service.refresh('A'.repeat(43), meta))).toBe('UNAUTHENTICATED');
    expect(f.repo.rotateCalls).toBe(1);
    for (const bad of ['', 'short', 'A'.repeat(44), `${'A'.repeat(42)}!`]) expect(await outcome(f.service.refresh(bad, meta))).toBe('UNAUTHENTICATED');
    expect(f.repo.rotateCalls).toBe(1);
    expect(f.repo.sessions.get(f.first.sessionId)!.revokedAt).toBeNull();
    expect(f.reuseEvents()).toEqual([]);
  });

  it('expired (idle or absolute): a used token is no reuse and an unused one is not consumed; UNAUTHENTICATED, nothing recorded', async () => {
    const idle = await signedIn();
    const next = await idle.service.refresh(idle.first.refreshToken, meta);
    idle.clock.now = T0 + s(300);
    expect(await outcome(idle.service.refresh(idle.first.refreshToken, meta))).toBe('UNAUTHENTICATED');
    expect(await outcome(idle.service.refresh(next.refreshToken, meta))).toBe('UNAUTHENTICATED');
    expect(idle.reuseEvents()).toEqual([]);
    expect(idle.repo.sessions.get(idle.first.sessionId)!.revokedAt).toBeNull();

    const absolute = await signedIn();
    absolute.clock.now = T0 + s(250);
    const kept = await absolute.service.refresh(absolute.first.refreshToken, meta); // idle end now 550 s
    absolute.clock.now = T0 + s(500);
    const last = await absolute.service.refresh(kept.refreshToken, meta); // idle end capped at 1000 s
    absolute.clock.now = T0 + s(1000);
    expect(await outcome(absolute.service.refresh(last.refreshToken, meta))).toBe('UNAUTHENTICATED');
    expect(await outcome(absolute.service.refresh(kept.refreshToken, meta))).toBe('UNAUTHENTICATED');
    expect(absolute.reuseEvents()).toEqual([]);
  });

  it('revoked (logout): its used token is no reuse; UNAUTHENTICATED, and no second revocation or event', async () => {
    const f = await signedIn();
    await f.service.refresh(f.first.refreshToken, meta);
    await f.service.logout({ userId: f.userId, sessionId: f.first.sessionId }, false, meta);
    const ended = f.repo.events.length;
    expect(await outcome(f.service.refresh(f.first.refreshToken, meta))).toBe('UNAUTHENTICATED');
    expect(f.repo.events).toHaveLength(ended);
    expect(f.repo.sessions.get(f.first.sessionId)!.revokeReason).toBe('logout');
  });

  it('reuse while Redis is down: SERVICE_UNAVAILABLE and nothing written; the next attempt, Redis back, ends the session', async () => {
    const f = await signedIn();
    await f.service.refresh(f.first.refreshToken, meta);
    f.cache.down = true;
    expect(await outcome(f.service.refresh(f.first.refreshToken, meta))).toBe('SERVICE_UNAVAILABLE');
    expect(f.repo.sessions.get(f.first.sessionId)!.revokedAt).toBeNull();
    expect(f.reuseEvents()).toEqual([]);
    f.cache.down = false;
    expect(await outcome(f.service.refresh(f.first.refreshToken, meta))).toBe('REFRESH_TOKEN_REUSED');
    expect(f.repo.sessions.get(f.first.sessionId)!.revokedAt).not.toBeNull();
  });
});
