import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Tx } from '../../core/tx.js';
import { generateSigningJwk, loadSigningKeys } from '../../infra/crypto/keys.js';
import { unavailable } from '../../infra/errors.js';
import { createLogger } from '../../infra/logger.js';
import { AccessTokens } from '../../modules/sessions/access-token.js';
import type { CachedSession } from '../../modules/sessions/session-cache.js';
import { liveUntil, unrotatedKind } from '../../modules/sessions/session-liveness.js';
import type { NewSession, RotateResult, RotatedUser } from '../../modules/sessions/sessions.repository.js';
import { SessionsService, type SessionsDeps } from '../../modules/sessions/sessions.service.js';

/**
 * In-memory stand-ins for what `SessionsService` depends on (`SessionsDeps`), for unit tests of its rules
 * in milliseconds: no PostgreSQL, no Redis. They keep what the real ones keep and decide liveness and
 * reuse with the functions the real repository uses (session-liveness.ts); what they cannot show (SQL
 * atomicity, races between instances) stays with the integration tests.
 */

export interface SessionRow {
  id: string;
  userId: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  idleExpiresAt: Date;
  authenticatedAt: Date;
  revokedAt: Date | null;
  revokeReason: string | null;
}

interface TokenRow {
  sessionId: string;
  usedAt: Date | null;
  expiresAt: Date;
}

/** A row of security_events as the service writes it through `recordSecurityEvents`. */
export type WrittenEvent = { userId: string; type: string; sessionId: string | null } & Record<string, unknown>;

type SessionStore = SessionsDeps['repo'];
type SessionLiveness = SessionsDeps['cache'];

const hex = (hash: Uint8Array) => Buffer.from(hash).toString('hex');

/** The sessions and refresh_tokens tables, and the security events written with them. */
export class FakeSessionStore implements SessionStore {
  readonly sessions = new Map<string, SessionRow>();
  readonly tokens = new Map<string, TokenRow>();
  readonly events: WrittenEvent[] = [];
  /** Audit entries the service wrote through `recordAudit`. */
  readonly audit: Record<string, unknown>[] = [];
  /** How often the service asked for one session's liveness (PostgreSQL, on a cache miss). */
  findLiveCalls = 0;
  rotateCalls = 0;

  /**
   * Stands in for Prisma's transaction client where the service writes through `recordSecurityEvents` and
   * `recordAudit`: a Tx is opaque to services, so only this cast can make one outside a repository.
   */
  readonly tx = {
    securityEvent: { createMany: async ({ data }: { data: WrittenEvent[] }) => (this.events.push(...data), { count: data.length }) },
    auditEntry: { createMany: async ({ data }: { data: Record<string, unknown>[] }) => (this.audit.push(...data), { count: data.length }) },
  } as unknown as Tx;

  user(id: string): RotatedUser {
    return { id, username: `user_${id.slice(0, 8)}`, email: `${id.slice(0, 8)}@example.com`, emailVerifiedAt: null, mfaEnabledAt: null, createdAt: new Date(0), role: 'USER', disabledAt: null };
  }

  /** A session row as the test wants it (for times a sign-in would not produce). */
  seed(row: Partial<SessionRow> & Pick<SessionRow, 'userId' | 'expiresAt' | 'idleExpiresAt'>): SessionRow {
    const at = new Date(0);
    const full = { id: randomUUID(), ip: null, userAgent: null, createdAt: at, lastUsedAt: at, authenticatedAt: at, revokedAt: null, revokeReason: null, ...row };
    this.sessions.set(full.id, full);
    return full;
  }

  async open(_tx: Tx | undefined, s: NewSession) {
    const row = this.seed({ ...s, createdAt: s.authenticatedAt, lastUsedAt: s.authenticatedAt });
    this.tokens.set(hex(s.refreshTokenHash), { sessionId: row.id, usedAt: null, expiresAt: s.expiresAt });
    this.events.push({ userId: s.userId, type: 'SIGNED_IN', sessionId: row.id });
    return { id: row.id, account: { role: 'USER' as const, disabledAt: null } };
  }

  /** The claim of the rotation statement: an unused, unexpired token of a live session; else why not. */
  async rotate(oldHash: Uint8Array<ArrayBuffer>, newHash: Uint8Array<ArrayBuffer>, now: Date, idleTtlMs: number): Promise<RotateResult> {
    this.rotateCalls += 1;
    const token = this.tokens.get(hex(oldHash));
    const session = token && this.sessions.get(token.sessionId);
    if (token && session && !token.usedAt && token.expiresAt > now && liveUntil(session, now)) {
      token.usedAt = now;
      const idle = new Date(now.getTime() + idleTtlMs);
      session.idleExpiresAt = idle < session.expiresAt ? idle : session.expiresAt;
      session.lastUsedAt = now;
      this.tokens.set(hex(newHash), { sessionId: session.id, usedAt: null, expiresAt: session.expiresAt });
      return { kind: 'rotated', userId: session.userId, sessionId: session.id, liveUntil: session.idleExpiresAt, user: this.user(session.userId) };
    }
    const prior = token && session ? { usedAt: token.usedAt, session } : null;
    return prior && unrotatedKind(prior, now) === 'reused' ? { kind: 'reused', userId: session!.userId, sessionId: session!.id } : { kind: 'invalid' };
  }

  async sessionOfToken(tokenHash: Uint8Array<ArrayBuffer>, now: Date) {
    const token = this.tokens.get(hex(tokenHash));
    const session = token && this.sessions.get(token.sessionId);
    return token && session && token.expiresAt > now && liveUntil(session, now) ? { userId: session.userId, sessionId: session.id } : null;
  }

  async hasRecentSession(userId: string | null, source: { ip: string; userAgent: string | null }, since: Date) {
    return [...this.sessions.values()].some((s) => s.userId === userId && s.ip === source.ip && s.userAgent === source.userAgent && s.createdAt > since);
  }

  async findLive(sessionId: string, now: Date) {
    this.findLiveCalls += 1;
    const s = this.sessions.get(sessionId);
    const until = s && liveUntil(s, now);
    return s && until ? { userId: s.userId, liveUntil: until } : null;
  }

  private live(userId: string, now: Date) {
    return [...this.sessions.values()].filter((s) => s.userId === userId && liveUntil(s, now));
  }

  async authenticatedAt(sessionId: string, userId: string, now: Date) {
    return this.live(userId, now).find((s) => s.id === sessionId)?.authenticatedAt ?? null;
  }

  async markAuthenticated(sessionId: string, userId: string, now: Date) {
    const s = this.live(userId, now).find((x) => x.id === sessionId);
    if (s) s.authenticatedAt = now;
    return s !== undefined;
  }

  async listLive(userId: string, now: Date) {
    return this.live(userId, now).map(({ id, createdAt, lastUsedAt, expiresAt, ip, userAgent }) => ({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent }));
  }

  async liveIds(userId: string, now: Date, filter: { only?: string; except?: string } = {}) {
    return this.live(userId, now)
      .map((s) => s.id)
      .filter((id) => (filter.only === undefined || id === filter.only) && id !== filter.except);
  }

  async revoke(_tx: Tx, ids: readonly string[], reason: string, now: Date) {
    const ended = ids.map((id) => this.sessions.get(id)).filter((s): s is SessionRow => s !== undefined && s.revokedAt === null);
    for (const s of ended) Object.assign(s, { revokedAt: now, revokeReason: reason });
    return ended.map((s) => s.id);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return fn(this.tx);
  }
}

/** The Redis liveness cache: what each session key holds, the profile keys beside them, and an outage switch. */
export class FakeSessionCache implements SessionLiveness {
  readonly entries = new Map<string, CachedSession>();
  readonly sidecars = new Map<string, string>();
  down = false;

  private reachable(): void {
    if (this.down) throw unavailable('Session store', new Error('connection refused'));
  }

  async get(sessionId: string, sidecarKey?: string) {
    this.reachable();
    return { session: this.entries.get(sessionId) ?? null, sidecar: (sidecarKey && this.sidecars.get(sidecarKey)) ?? null };
  }

  /** Like SET NX: never overwrites a `revoked` marker (nor anything else). */
  async markLive(sessionId: string, userId: string, until: Date) {
    this.reachable();
    if (!this.entries.has(sessionId)) this.entries.set(sessionId, { state: 'live', userId, until: until.getTime() });
  }

  async markRevoked(sessionIds: readonly string[]) {
    this.reachable();
    for (const id of sessionIds) this.entries.set(id, { state: 'revoked' });
  }
}

const keys = loadSigningKeys(JSON.stringify({ keys: [await generateSigningJwk()] }));

/** A SessionsService over the fakes, on a clock the test moves (`clock.now`, epoch ms). */
export async function sessionsOverFakes(opts: { now: number; refreshTtlSeconds?: number; idleTtlSeconds?: number }) {
  const clock = { now: opts.now };
  const repo = new FakeSessionStore();
  const cache = new FakeSessionCache();
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write: (chunk: Buffer, _enc, cb) => (logs.push(chunk.toString('utf8')), cb()) }) });
  const tokens = new AccessTokens(await keys, { issuer: 'https://auth.test', ttlSeconds: 900, now: () => clock.now });
  const service = new SessionsService({
    repo,
    cache,
    tokens,
    log,
    refreshTtlSeconds: opts.refreshTtlSeconds ?? 30 * 86_400,
    idleTtlSeconds: opts.idleTtlSeconds ?? 7 * 86_400,
    reauthMaxAgeSeconds: 600,
    signals: { refreshTokenReused: () => undefined },
    // Every account exists and is active: the standing rules have their own tests (account-standing).
    accounts: { cacheKey: (userId: string) => `profile:${userId}`, current: async (userId: string, cached: string | null) => (cached ? (JSON.parse(cached) as ReturnType<FakeSessionStore['user']>) : repo.user(userId)) },
    now: () => new Date(clock.now),
  });
  return { service, repo, cache, clock, logs };
}
