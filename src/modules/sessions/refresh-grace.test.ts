import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf, refresh, register, type Tokens } from '../../test/auth-client.js';
import { useTestServers, type TestServer } from '../../test/harness.js';
import { MaintenanceRepository } from '../maintenance/maintenance.repository.js';
import { hashOpaqueToken } from './refresh-token.js';

const GRACE = 30;

describe('REFRESH_REUSE_GRACE_SECONDS', () => {
  const fx = useTestServers('refresh-grace');
  let graced: TestServer;
  let gracedToo: TestServer; // a second instance over the same database and Redis
  let strict: TestServer; // the default: 0

  beforeAll(async () => {
    graced = await fx.start({ env: { REFRESH_REUSE_GRACE_SECONDS: String(GRACE) } });
    gracedToo = await fx.start({ env: { REFRESH_REUSE_GRACE_SECONDS: String(GRACE) } });
    strict = await fx.start();
  });

  const rowOf = (token: string) =>
    graced.infra.prisma.refreshToken.findUniqueOrThrow({ where: { tokenHash: hashOpaqueToken(token) }, select: { id: true, usedAt: true, successorSealed: true, sessionId: true } });
  const sessionOf = (t: Tokens) => JSON.parse(Buffer.from(t.accessToken.split('.')[1]!, 'base64url').toString()).sid as string;
  const revokedAt = async (sid: string) => (await graced.infra.prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokedAt;
  const reuseEvents = (sid: string) => graced.infra.prisma.securityEvent.count({ where: { sessionId: sid, type: 'REFRESH_TOKEN_REUSED' } });

  it('is off by default: presenting a rotated token again is reuse, as without the setting', async () => {
    expect(strict.config.auth.refreshReuseGrace).toBe(0);
    const t = await register(strict);
    expect(codeOf((await refresh(strict, t.refreshToken)).body)).toBeUndefined();
    expect(codeOf((await refresh(strict, t.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');
  });

  it('a retry within the grace, while the successor is unused, answers that same successor and a working access token', async () => {
    const t = await register(graced);
    const first = (await refresh(graced, t.refreshToken)).body.data!.refresh;
    const retry = await refresh(graced, t.refreshToken);
    expect(retry.body.errors).toBeUndefined();
    expect(retry.body.data!.refresh.refreshToken).toBe(first.refreshToken);
    expect(sessionOf(retry.body.data!.refresh)).toBe(sessionOf(t));
    expect(await revokedAt(sessionOf(t))).toBeNull();
    // The successor is kept sealed, never in clear, and only while it can still be handed out.
    const parent = await rowOf(t.refreshToken);
    expect(parent.successorSealed).toBeTruthy();
    expect(parent.successorSealed).not.toContain(first.refreshToken);
    // One live token for the session: the parent (used) and its one successor.
    expect(await graced.infra.prisma.refreshToken.count({ where: { sessionId: sessionOf(t), usedAt: null } })).toBe(1);

    // Once the successor is used, the sealed copy is gone and the parent is reuse again.
    const next = (await refresh(graced, first.refreshToken)).body.data!.refresh;
    expect((await rowOf(t.refreshToken)).successorSealed).toBeNull();
    expect(codeOf((await refresh(graced, t.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');
    expect(await revokedAt(sessionOf(t))).not.toBeNull();
    expect(codeOf((await refresh(graced, next.refreshToken)).body)).toBe('UNAUTHENTICATED');
  });

  it('after the grace, presenting the rotated token is reuse even while the successor is unused; the purge drops the sealed copy', async () => {
    const t = await register(graced);
    await refresh(graced, t.refreshToken);
    const parent = await rowOf(t.refreshToken);
    await graced.infra.prisma.refreshToken.update({ where: { id: parent.id }, data: { usedAt: new Date(parent.usedAt!.getTime() - (GRACE + 1) * 1000) } });
    const purged = await new MaintenanceRepository(graced.infra.prisma, GRACE).purgeExpired(new Date());
    expect(purged.sealedSuccessors).toBeGreaterThanOrEqual(1);
    expect((await rowOf(t.refreshToken)).successorSealed).toBeNull();
    expect(codeOf((await refresh(graced, t.refreshToken)).body)).toBe('REFRESH_TOKEN_REUSED');
    expect(await reuseEvents(sessionOf(t))).toBe(1);
  });

  it('race: 20 concurrent presentations of one token within the grace, over two instances, yield exactly one successor and no revoked session', async () => {
    const t = await register(graced);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 ? gracedToo : graced, t.refreshToken)));
    for (const r of results) expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
    const successors = new Set(results.map((r) => r.body.data!.refresh.refreshToken));
    expect(successors.size).toBe(1);
    const sid = sessionOf(t);
    expect(await graced.infra.prisma.refreshToken.count({ where: { sessionId: sid } })).toBe(2);
    expect(await revokedAt(sid)).toBeNull();
    expect(await reuseEvents(sid)).toBe(0);
    // And that one successor works.
    expect(codeOf((await refresh(graced, [...successors][0]!)).body)).toBeUndefined();
  });

  it('a sealed successor moved to another token row does not open (bound to its parent): the retry fails closed', async () => {
    const a = await register(graced);
    const b = await register(graced);
    await refresh(graced, a.refreshToken);
    await refresh(graced, b.refreshToken);
    const rowA = await rowOf(a.refreshToken);
    const rowB = await rowOf(b.refreshToken);
    await graced.infra.prisma.refreshToken.update({ where: { id: rowB.id }, data: { successorSealed: rowA.successorSealed } });
    const retry = await refresh(graced, b.refreshToken);
    expect(codeOf(retry.body)).toBe('UNAUTHENTICATED');
    expect(retry.body.data?.refresh).toBeUndefined();
  });

  it('in cookie mode a retry within the grace sets that same successor as the cookie', async () => {
    const t = await register(graced);
    const byCookie = (token: string) =>
      fetch(`${graced.url}/auth/refresh`, { method: 'POST', headers: { 'x-latchkey-session': 'cookie', cookie: `latchkey_refresh=${token}` } });
    const [first, retry] = [await byCookie(t.refreshToken), await byCookie(t.refreshToken)];
    expect([first.status, retry.status]).toEqual([200, 200]);
    expect(retry.headers.getSetCookie()).toEqual(first.headers.getSetCookie());
    expect(first.headers.getSetCookie()[0]).not.toContain(t.refreshToken);
  });
});
