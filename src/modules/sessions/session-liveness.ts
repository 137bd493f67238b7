/**
 * When a session is live, in one place: the repository reads rows through it, and the unit tests hold
 * the service to it. A session ends at the earlier of its absolute end (`expiresAt`, fixed at sign-in)
 * and its idle end (`idleExpiresAt`, moved on by each refresh but never past the absolute end), or when
 * revoked.
 */
export interface SessionTimes {
  revokedAt: Date | null;
  expiresAt: Date;
  idleExpiresAt: Date;
}

/** Until when the session is live at `now`; null once revoked or past either end. */
export function liveUntil(s: SessionTimes, now: Date): Date | null {
  if (s.revokedAt !== null) return null;
  const until = s.expiresAt < s.idleExpiresAt ? s.expiresAt : s.idleExpiresAt;
  return until > now ? until : null;
}

/** The two ends of a session opened at `now`: the idle end never later than the absolute one. */
export function sessionEnds(now: Date, refreshTtlSeconds: number, idleTtlSeconds: number): { expiresAt: Date; idleExpiresAt: Date } {
  return {
    expiresAt: new Date(now.getTime() + refreshTtlSeconds * 1000),
    idleExpiresAt: new Date(now.getTime() + Math.min(idleTtlSeconds, refreshTtlSeconds) * 1000),
  };
}

/**
 * Why a refresh token did not rotate: reuse (theft, or the loser of a race) when it was used already and
 * its session is still live; unknown, expired, or of an ended session, it is simply not a valid token.
 */
export function unrotatedKind(prior: { usedAt: Date | null; session: SessionTimes } | null, now: Date): 'reused' | 'invalid' {
  return prior?.usedAt && liveUntil(prior.session, now) ? 'reused' : 'invalid';
}
