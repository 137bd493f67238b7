import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { accountWithRole, adminCall, adminRest, DELETE_ACCOUNT } from '../../test/admin-client.js';
import { bearer, codeOf } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

/** Waits until `n` backends of this database wait for a row lock (the racing changes, parked at the same point). */
async function waitForLockWaiters(client: pg.Client, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    // pg_stat_activity is a snapshot taken once per transaction, and `client` holds one open: clear it, or
    // every poll sees what the first saw.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    );
    if ((rows[0]?.n ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${n} changes never waited on the admins' rows`);
}

describe('the last ADMIN', () => {
  const fx = useTestServer('lastadmin');
  const activeAdmins = () => fx.server.infra.prisma.user.count({ where: { role: 'ADMIN', disabledAt: null } });

  it('cannot be demoted, disabled or deleted (FORBIDDEN), not even by itself; with a second ADMIN it can', async () => {
    const only = await accountWithRole(fx.server, 'ADMIN', 'only');
    const id = only.user.id;
    const entries = () => fx.server.infra.prisma.auditEntry.count({ where: { targetUserId: id } });
    const before = await entries();
    expect(codeOf((await adminCall(fx.server, 'setUserRole', { id, role: 'SUPPORT' }, only.accessToken)).body)).toBe('FORBIDDEN');
    expect(codeOf((await adminCall(fx.server, 'disableUser', { id }, only.accessToken)).body)).toBe('FORBIDDEN');
    expect(codeOf((await adminCall(fx.server, 'deleteUser', { id }, only.accessToken)).body)).toBe('FORBIDDEN');
    expect((await adminRest(fx.server, 'DELETE', `/users/${id}`, only.accessToken)).body).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(codeOf((await gql(fx.server, DELETE_ACCOUNT, { password: only.password }, bearer(only.accessToken))).body)).toBe('FORBIDDEN');
    expect(await activeAdmins()).toBe(1);
    expect(await entries()).toBe(before);

    const second = await accountWithRole(fx.server, 'ADMIN', 'second');
    expect((await adminCall(fx.server, 'setUserRole', { id, role: 'SUPPORT' }, only.accessToken)).body.errors).toBeUndefined();
    expect(codeOf((await adminCall(fx.server, 'disableUser', { id: second.user.id }, second.accessToken)).body)).toBe('FORBIDDEN');
  });

  it('race: the last two ADMINs demote each other at the same moment; exactly one succeeds', async () => {
    // Start from exactly two active admins.
    await fx.server.infra.prisma.user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'USER' } });
    const a = await accountWithRole(fx.server, 'ADMIN', 'first');
    const b = await accountWithRole(fx.server, 'ADMIN', 'second');
    expect(await activeAdmins()).toBe(2);

    // Hold both admins' rows so that both requests pass their role check and park at the same point; let
    // them go together once both wait. Without a lock there, each would count two admins and both succeed.
    const holder = new pg.Client({ connectionString: fx.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT id FROM users WHERE role = 'ADMIN' FOR UPDATE");
      const racing = Promise.all([
        adminCall(fx.server, 'setUserRole', { id: b.user.id, role: 'USER' }, a.accessToken),
        adminCall(fx.server, 'setUserRole', { id: a.user.id, role: 'USER' }, b.accessToken),
      ]);
      await waitForLockWaiters(holder, 2);
      await holder.query('COMMIT');
      const codes = (await racing).map((r) => codeOf(r.body) ?? 'OK');
      expect(codes.sort()).toEqual(['FORBIDDEN', 'OK']);
    } finally {
      await holder.end();
    }
    expect(await activeAdmins()).toBe(1);
    expect(await fx.server.infra.prisma.auditEntry.count({ where: { action: 'admin.role_changed', targetUserId: { in: [a.user.id, b.user.id] }, details: { path: ['to'], equals: 'USER' } } })).toBe(1);
  });
});
