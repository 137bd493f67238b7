import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Role } from '../../core/request.js';
import { transaction } from '../../infra/db/index.js';
import { bearer, codeOf, login, newIdentity, register, type Tokens } from '../../test/auth-client.js';
import { gql, useTestServers, type TestServer } from '../../test/harness.js';
import { eventually } from '../../test/tcp-proxy.js';
import { recordAudit, type NewAuditEntry } from './audit.repository.js';

const FIELDS = 'id occurredAt action outcome actorId targetUserId sessionId ip userAgent requestId details';
const AUDIT_LOG = `query A($f: AuditLogFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) { edges { cursor node { ${FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const ON_AUDIT = `subscription { auditEvent { ${FIELDS} } }`;

interface Entry {
  id: string;
  occurredAt: string;
  action: string;
  outcome: string;
  actorId: string | null;
  targetUserId: string | null;
  ip: string | null;
  details: unknown;
}
type Page = { auditLog: { edges: { cursor: string; node: Entry }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };

/** A real graphql-ws client on `auditEvent`: what arrived, and the errors it was sent instead. */
async function watchAudit(wsUrl: string, accessToken: string) {
  const received: Entry[] = [];
  const errors: string[] = [];
  let acked!: () => void;
  const ready = new Promise<void>((r) => (acked = r));
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined, connectionParams: { authorization: `Bearer ${accessToken}` }, on: { connected: () => acked() } });
  client.subscribe<{ auditEvent: Entry }>(
    { query: ON_AUDIT },
    {
      next: (r) => {
        if (r.data) received.push(r.data.auditEvent);
        for (const e of r.errors ?? []) errors.push(String((e.extensions as { code?: string } | undefined)?.code));
      },
      error: (e) => {
        for (const x of Array.isArray(e) ? (e as { extensions?: { code?: string } }[]) : []) errors.push(String(x.extensions?.code));
      },
      complete: () => undefined,
    },
  );
  await ready;
  await new Promise((r) => setTimeout(r, 150)); // the subscribe message follows the ack
  return { received, errors, dispose: () => client.dispose() };
}

describe('the audit log for operators', () => {
  const fx = useTestServers('audit-log');
  let a: TestServer; // two instances over one database and Redis
  let b: TestServer;
  const opened: { dispose(): void }[] = [];

  beforeAll(async () => {
    a = await fx.start();
    b = await fx.start();
  });
  afterAll(() => {
    for (const s of opened) s.dispose();
  });

  /** An account holding `role`, signed in. */
  async function withRole(role: Role): Promise<Tokens> {
    const t = await register(a, newIdentity(role.toLowerCase()));
    await a.infra.prisma.user.update({ where: { id: t.user.id }, data: { role } });
    await a.services.identity.accountChanged(t.user.id);
    return t;
  }
  const setRole = async (userId: string, role: Role) => {
    await a.infra.prisma.user.update({ where: { id: userId }, data: { role } });
    await a.services.identity.accountChanged(userId);
  };
  /** Entries the way the admin and alert features write theirs: recordAudit in their own transaction. */
  const write = (entries: NewAuditEntry[], ip = '192.0.2.10') =>
    transaction(a.infra.prisma, (tx) => recordAudit(tx, { ip, userAgent: 'ops-console', requestId: 'req-ops' }, entries));
  const page = (token: string, variables: Record<string, unknown>) => gql<Page>(a, AUDIT_LOG, variables, bearer(token));

  describe('auditLog', () => {
    it('is for SUPPORT and ADMIN only', async () => {
      const user = await withRole('USER');
      expect(codeOf((await page(user.accessToken, {})).body)).toBe('FORBIDDEN');
      expect(codeOf((await gql(a, AUDIT_LOG, {})).body)).toBe('UNAUTHENTICATED');
      for (const role of ['SUPPORT', 'ADMIN'] as const) expect(codeOf((await page((await withRole(role)).accessToken, {})).body)).toBeUndefined();
    });

    it('filters by every field, newest first, and pages with opaque cursors without gaps or repeats', async () => {
      const support = await withRole('SUPPORT');
      const target = await register(a);
      const before = new Date();
      await new Promise((r) => setTimeout(r, 5));
      const actor = support.user.id;
      const ip = '198.51.100.23';
      for (let i = 0; i < 5; i++) {
        await write([{ action: 'admin.user_disabled', outcome: 'SUCCESS', actorId: actor, targetUserId: target.user.id, details: { n: i } }], ip);
      }
      await write([{ action: 'security.alert', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { rule: 'credential_stuffing', ip } }], ip);
      await write([{ action: 'admin.user_enabled', outcome: 'FAILURE', actorId: actor, targetUserId: target.user.id }], '198.51.100.24');
      const middle = new Date();

      const all = (f: Record<string, unknown>) => page(support.accessToken, { f, first: 200 }).then((r) => r.body.data!.auditLog.edges.map((e) => e.node));
      expect((await all({ ip })).map((e) => e.action)).toEqual(['security.alert', ...Array(5).fill('admin.user_disabled')]);
      expect((await all({ ip, action: 'admin.user_disabled' })).map((e) => (e.details as { n: number }).n)).toEqual([4, 3, 2, 1, 0]);
      expect((await all({ actorId: actor })).every((e) => e.actorId === actor)).toBe(true);
      // Its own sign-up and sign-in came before `before`.
      expect((await all({ actorId: actor })).map((e) => e.action).slice(-2).sort()).toEqual(['user.registered', 'user.signed_in']);
      expect(await all({ actorId: actor, since: before.toISOString() })).toHaveLength(6);
      expect((await all({ targetUserId: target.user.id, outcome: 'FAILURE' })).map((e) => e.action)).toEqual(['admin.user_enabled']);
      expect((await all({ since: before.toISOString(), until: middle.toISOString(), action: 'security.alert' })).map((e) => e.details)).toEqual([{ rule: 'credential_stuffing', ip }]);
      expect(await all({ since: middle.toISOString(), actorId: actor })).toEqual([]);

      // Pages of two: the same six entries, in the same order, each once.
      const seen: Entry[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const r: { body: { data?: Page } } = await page(support.accessToken, { f: { ip }, first: 2, after });
        const conn = r.body.data!.auditLog;
        seen.push(...conn.edges.map((e) => e.node));
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      expect(seen.map((e) => e.id)).toEqual((await all({ ip })).map((e) => e.id));
    });

    it('answers BAD_USER_INPUT for a bad filter, page size or cursor', async () => {
      const support = await withRole('SUPPORT');
      for (const variables of [
        { f: { action: 'user.exploded' } },
        { f: { actorId: 'not-a-uuid' } },
        { f: { since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' } },
        { first: 0 },
        { first: 201 },
        { after: 'bm9wZQ' },
      ]) {
        expect(codeOf((await page(support.accessToken, variables)).body), JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      }
    });
  });

  describe('GET /v1/admin/audit-log', () => {
    it('streams NDJSON, oldest first, with SIEM field names and the OCSF class, across read batches', async () => {
      const support = await withRole('SUPPORT');
      const since = new Date();
      await new Promise((r) => setTimeout(r, 5));
      // 2,500 entries in one statement (one occurred_at): the export's keyset must break the tie by id.
      await a.infra.prisma.$executeRaw`
        INSERT INTO audit_log (action, outcome, ip, details)
        SELECT 'security.alert', 'SUCCESS', '203.0.113.50', jsonb_build_object('n', n) FROM generate_series(1, 2500) AS n`;
      await write([{ action: 'user.signed_out', outcome: 'SUCCESS', actorId: support.user.id, targetUserId: support.user.id }]);
      const res = await fetch(`${a.url}/v1/admin/audit-log?since=${encodeURIComponent(since.toISOString())}&action=security.alert`, { headers: bearer(support.accessToken) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const lines = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2500);
      expect(new Set(lines.map((l) => l.id)).size).toBe(2500);
      const ids = lines.map((l) => String(l.id));
      expect(ids).toEqual([...ids].sort());
      expect(lines[0]).toMatchObject({
        action: 'security.alert',
        outcome: 'success',
        src_ip: '203.0.113.50',
        actor_user_id: null,
        target_user_id: null,
        ocsf: { category_uid: 2, class_uid: 2004, class_name: 'Detection Finding', activity_id: 1, type_uid: 200401, status_id: 1 },
      });
      expect(Object.keys(lines[0]!).sort()).toEqual(
        ['action', 'actor_user_id', 'details', 'id', 'occurred_at', 'ocsf', 'outcome', 'request_id', 'session_id', 'src_ip', 'target_user_id', 'user_agent'].sort(),
      );

      const signedOut = await fetch(`${a.url}/v1/admin/audit-log?since=${encodeURIComponent(since.toISOString())}&action=user.signed_out`, { headers: bearer(support.accessToken) });
      const [line] = (await signedOut.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(line).toMatchObject({ actor_user_id: support.user.id, user_agent: 'ops-console', request_id: 'req-ops', ocsf: { class_uid: 3002, activity_id: 2, activity_name: 'Logoff' } });
    });

    it('is for SUPPORT and ADMIN only, and refuses a bad query with a typed error', async () => {
      const user = await withRole('USER');
      const admin = await withRole('ADMIN');
      const get = (query: string, token?: string) => fetch(`${a.url}/v1/admin/audit-log${query}`, { headers: token ? bearer(token) : {} });
      const forbidden = await get('', user.accessToken);
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { code: string }).code).toBe('FORBIDDEN');
      expect((await get('')).status).toBe(401);
      const bad = await get('?since=yesterday', admin.accessToken);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { code: string }).code).toBe('BAD_USER_INPUT');
      expect((await get('?action=no.such', admin.accessToken)).status).toBe(400);
      expect((await get(`?since=${encodeURIComponent(new Date().toISOString())}`, admin.accessToken)).status).toBe(200);
    });
  });

  describe('auditEvent', () => {
    // The 2,500 entries of the export test are sealed and fed out over the next seconds (longer on a
    // loaded box): a watcher subscribing meanwhile would get that burst ahead of its own entries.
    beforeAll(async () => {
      await eventually(
        async () => {
          const [row] = await a.infra.prisma.$queryRaw<{ done: boolean }[]>`
            SELECT NOT EXISTS (SELECT 1 FROM audit_pending)
               AND coalesce((SELECT seq FROM audit_cursors WHERE name = 'publisher'), 0) >= coalesce((SELECT max(seq) FROM audit_seals), 0) AS done`;
          return row?.done === true;
        },
        (done) => done,
        30_000,
      );
    }, 35_000);

    it('pushes each new entry to SUPPORT and ADMIN on every instance; a demoted operator stops receiving at once', async () => {
      const admin = await withRole('ADMIN');
      const support = await withRole('SUPPORT');
      const onA = await watchAudit(a.wsUrl, admin.accessToken);
      const onB = await watchAudit(b.wsUrl, support.accessToken);
      opened.push(onA, onB);

      // An action on instance B, and an entry another feature writes: both reach both operators.
      const id = newIdentity('live');
      const t = await register(b, id);
      await write([{ action: 'security.alert', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { rule: 'signup_burst', ip: '192.0.2.10' } }]);
      for (const sub of [onA, onB]) {
        await eventually(async () => sub.received.map((e) => e.action), (got) => got.includes('security.alert'));
        await eventually(async () => sub.received.filter((e) => e.targetUserId === t.user.id).map((e) => e.action), (got) => got.includes('user.registered') && got.includes('user.signed_in'));
      }
      const registered = onA.received.find((e) => e.action === 'user.registered' && e.targetUserId === t.user.id)!;
      expect(registered).toMatchObject({ outcome: 'SUCCESS', actorId: t.user.id, ip: '127.0.0.1' });

      // The admin is demoted: the next entry reaches the support account only.
      await setRole(admin.user.id, 'USER');
      const seenByA = onA.received.length;
      await login(a, id.username, 'wrong password, after the demotion');
      await eventually(async () => onB.received.filter((e) => e.action === 'user.sign_in_failed' && e.targetUserId === t.user.id), (got) => got.length === 1);
      await eventually(async () => onA.errors, (errs) => errs.includes('FORBIDDEN'));
      expect(onA.received).toHaveLength(seenByA);
    });

    it('survives a process that died holding the feed: its lease runs out, then the entries arrive once', async () => {
      const admin = await withRole('ADMIN');
      const sub = await watchAudit(a.wsUrl, admin.accessToken);
      opened.push(sub);
      // A process leased the feed's cursor and died before publishing (no transaction, no lock is left).
      await a.infra.prisma.$executeRaw`UPDATE audit_cursors SET leased_until = now() + interval '10 minutes' WHERE name = 'publisher'`;
      await write([{ action: 'security.alert', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { rule: 'feed_lease', ip: '192.0.2.77' } }]);
      const ours = (e: Entry) => e.action === 'security.alert' && (e.details as { rule?: string } | null)?.rule === 'feed_lease';
      // Sealed, and a publishing round on each instance: both leave the leased feed alone.
      await a.services.auditSealer.pass();
      await b.services.auditSealer.pass();
      const [state] = await a.infra.prisma.$queryRaw<{ sealed: bigint; cursor: bigint }[]>`
        SELECT (SELECT max(seq) FROM audit_seals) AS sealed, (SELECT seq FROM audit_cursors WHERE name = 'publisher') AS cursor`;
      const { sealed, cursor } = state!;
      expect(BigInt(cursor)).toBeLessThan(BigInt(sealed));
      expect(sub.received.some(ours)).toBe(false);

      // The clock passes the dead process's lease: the next round publishes from the cursor.
      await a.infra.prisma.$executeRaw`UPDATE audit_cursors SET leased_until = now() - interval '1 second' WHERE name = 'publisher'`;
      await eventually(async () => sub.received.filter(ours), (got) => got.length > 0);
      await a.services.auditSealer.pass();
      expect(sub.received.filter(ours)).toHaveLength(1);
      const after = await a.infra.prisma.auditCursor.findUniqueOrThrow({ where: { name: 'publisher' } });
      expect(after.seq).toBeGreaterThanOrEqual(BigInt(sealed));
    });

    it('refuses a USER when subscribing, before any entry', async () => {
      const user = await withRole('USER');
      const sub = await watchAudit(b.wsUrl, user.accessToken);
      opened.push(sub);
      await eventually(async () => sub.errors, (errs) => errs.includes('FORBIDDEN'), 2_000);
      expect(sub.received).toEqual([]);
    });
  });
});
