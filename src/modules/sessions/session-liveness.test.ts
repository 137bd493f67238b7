import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../infra/errors.js';
import { sessionsOverFakes } from '../../test/fakes/sessions.js';
import { liveUntil, sessionEnds } from './session-liveness.js';

const T0 = Date.UTC(2030, 0, 1);
const s = (seconds: number) => seconds * 1000;
const meta = { requestId: 'r1', ip: '198.51.100.7', userAgent: 'unit' };
const outcome = (p: Promise<unknown>) => p.then(() => 'live', (e: unknown) => (e instanceof AppError ? e.code : String(e)));

describe('session liveness', () => {
  describe('the rule', () => {
    const row = { revokedAt: null, expiresAt: new Date(T0 + s(1000)), idleExpiresAt: new Date(T0 + s(300)) };

    it('is live until the earlier of its idle and absolute ends, and not at either', () => {
      expect(liveUntil(row, new Date(T0))).toEqual(row.idleExpiresAt);
      expect(liveUntil(row, new Date(T0 + s(300)))).toBeNull();
      const refreshed = { ...row, idleExpiresAt: new Date(T0 + s(2000)) };
      expect(liveUntil(refreshed, new Date(T0 + s(999)))).toEqual(refreshed.expiresAt);
      expect(liveUntil(refreshed, new Date(T0 + s(1000)))).toBeNull();
    });

    it('is over once revoked, whatever its ends say', () => {
      expect(liveUntil({ ...row, revokedAt: new Date(T0) }, new Date(T0))).toBeNull();
    });

    it('opens with its idle end no later than its absolute end', () => {
      expect(sessionEnds(new Date(T0), 1000, 300)).toEqual({ expiresAt: new Date(T0 + s(1000)), idleExpiresAt: new Date(T0 + s(300)) });
      expect(sessionEnds(new Date(T0), 1000, 5000)).toEqual({ expiresAt: new Date(T0 + s(1000)), idleExpiresAt: new Date(T0 + s(1000)) });
    });
  });

  describe('SessionsService.checkSession', () => {
    async function opened(ttl: { refreshTtlSeconds?: number; idleTtlSeconds?: number } = {}) {
      const f = await sessionsOverFakes({ now: T0, ...ttl });
      const userId = randomUUID();
      const issue = await f.service.open(f.repo.tx, userId, meta);
      const { sessionId } = await issue();
      return { ...f, userId, sessionId };
    }

    it('a cache hit answers without PostgreSQL, with the profile read beside it', async () => {
      const f = await opened();
      f.cache.entries.set(f.sessionId, { state: 'live', userId: f.userId, until: T0 + s(60) });
      f.cache.sidecars.set(`profile:${f.userId}`, JSON.stringify({ ...f.repo.user(f.userId), username: 'from_cache' }));
      expect(await f.service.checkSession(f.userId, f.sessionId)).toMatchObject({ userId: f.userId, sessionId: f.sessionId, liveUntil: T0 + s(60), account: { username: 'from_cache' } });
      expect(f.repo.findLiveCalls).toBe(0);
    });

    it('a revoked marker refuses at once, though the row still looks live (a revocation reaches Redis first)', async () => {
      const f = await opened();
      f.cache.entries.set(f.sessionId, { state: 'revoked' });
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('UNAUTHENTICATED');
      expect(f.repo.findLiveCalls).toBe(0);
    });

    it('a miss asks PostgreSQL and caches the answer until the session ends', async () => {
      const f = await opened({ refreshTtlSeconds: 1000, idleTtlSeconds: 300 });
      expect(await f.service.checkSession(f.userId, f.sessionId)).toMatchObject({ userId: f.userId, sessionId: f.sessionId, liveUntil: T0 + s(300), role: 'USER' });
      expect(f.repo.findLiveCalls).toBe(1);
      expect(f.cache.entries.get(f.sessionId)).toEqual({ state: 'live', userId: f.userId, until: T0 + s(300) });
      await f.service.checkSession(f.userId, f.sessionId);
      expect(f.repo.findLiveCalls).toBe(1);
    });

    it('trusts a cached answer only until the end it names: past it, PostgreSQL decides', async () => {
      const f = await opened({ refreshTtlSeconds: 1000, idleTtlSeconds: 300 });
      await f.service.checkSession(f.userId, f.sessionId); // cached until T0 + 300 s
      f.clock.now = T0 + s(301);
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('UNAUTHENTICATED');
      expect(f.repo.findLiveCalls).toBe(2);
    });

    it('idle expiry: a session unused for the idle time is over though its absolute end is far', async () => {
      const f = await opened({ refreshTtlSeconds: 1000, idleTtlSeconds: 300 });
      f.clock.now = T0 + s(299);
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('live');
      f.cache.entries.clear();
      f.clock.now = T0 + s(300);
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('UNAUTHENTICATED');
    });

    it('absolute expiry: a session refreshed all along still ends at its absolute end', async () => {
      const f = await sessionsOverFakes({ now: T0 });
      const userId = randomUUID();
      const row = f.repo.seed({ userId, expiresAt: new Date(T0 + s(1000)), idleExpiresAt: new Date(T0 + s(5000)) });
      f.clock.now = T0 + s(999);
      expect(await outcome(f.service.checkSession(userId, row.id))).toBe('live');
      f.cache.entries.clear();
      f.clock.now = T0 + s(1000);
      expect(await outcome(f.service.checkSession(userId, row.id))).toBe('UNAUTHENTICATED');
    });

    it("refuses a session named with another user's id, whether Redis or PostgreSQL answers", async () => {
      const f = await opened();
      const other = randomUUID();
      expect(await outcome(f.service.checkSession(other, f.sessionId))).toBe('UNAUTHENTICATED');
      await f.service.checkSession(f.userId, f.sessionId); // now cached for its owner
      expect(await outcome(f.service.checkSession(other, f.sessionId))).toBe('UNAUTHENTICATED');
    });

    it('refuses a session that ended in PostgreSQL once the cache no longer vouches for it', async () => {
      const f = await opened();
      f.repo.sessions.get(f.sessionId)!.revokedAt = new Date(T0);
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('UNAUTHENTICATED');
      expect(await outcome(f.service.checkSession(f.userId, randomUUID()))).toBe('UNAUTHENTICATED');
    });

    it('with Redis down answers SERVICE_UNAVAILABLE: never a pass, and never PostgreSQL alone', async () => {
      const f = await opened();
      f.cache.down = true;
      expect(await outcome(f.service.checkSession(f.userId, f.sessionId))).toBe('SERVICE_UNAVAILABLE');
      expect(f.repo.findLiveCalls).toBe(0);
    });

    it('authenticate checks the access token, then the session, and says until when the token holds', async () => {
      const f = await opened();
      const { accessToken, sessionId } = await (await f.service.open(f.repo.tx, f.userId, meta))();
      const principal = await f.service.authenticate(`Bearer ${accessToken}`);
      expect(principal).toMatchObject({ userId: f.userId, sessionId, accessTokenExpiresAt: T0 + s(900) });
      f.cache.entries.set(sessionId, { state: 'revoked' });
      expect(await outcome(f.service.authenticate(`Bearer ${accessToken}`))).toBe('UNAUTHENTICATED');
      expect(await outcome(f.service.authenticate('Bearer not-a-token'))).toBe('UNAUTHENTICATED');
    });
  });
});
