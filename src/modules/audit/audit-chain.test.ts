import { describe, expect, it } from 'vitest';
import { AppSecrets } from '../../infra/crypto/secrets.js';
import type { PrismaClient } from '../../infra/db/index.js';
import { login, newIdentity, register } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';
import { spawnEntry } from '../../test/process.js';
import { eventually } from '../../test/tcp-proxy.js';
import { AuditRetention } from './audit-retention.js';
import { AuditSealsRepository } from './audit-seals.repository.js';
import { verifyAuditChain } from './audit-verify.js';

/** Runs `statements` as a superuser would to tamper: on one connection with every trigger off. */
async function asSuperuserWithoutTriggers(prisma: PrismaClient, statements: string[]): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe('SET LOCAL session_replication_role = replica');
    for (const s of statements) await tx.$executeRawUnsafe(s);
  });
}

describe('the audit log is append-only and tamper-evident', () => {
  const fx = useTestServer('audit-chain');
  const prisma = () => fx.server.infra.prisma;
  const repo = () => new AuditSealsRepository(prisma());
  const ring = () => new AppSecrets(fx.server.config.secrets.appSecret!).ring('audit-seal');
  /** Until nothing is pending: the background pass seals within milliseconds; this waits for it. */
  const settle = async () => {
    await fx.server.services.auditSealer.pass();
    await eventually(() => prisma().auditPending.count(), (n) => n === 0);
  };
  const verify = async () => {
    await settle();
    return verifyAuditChain(repo(), ring(), { batch: 7 });
  };
  const someActivity = async () => {
    const id = newIdentity('chain');
    await register(fx.server, id);
    await login(fx.server, id.username, 'wrong password');
    await login(fx.server, id.username, id.password);
  };

  it('retention removes what is past AUDIT_RETENTION_DAYS, seals too, and the rest verifies from its oldest seal', async () => {
    // Entries from long ago (seeded with SQL into the fresh database, so they open the chain), then newer activity.
    await prisma().$executeRaw`
      INSERT INTO audit_log (occurred_at, action, outcome, details)
      SELECT now() - interval '400 days' + n * interval '1 second', 'security.alert', 'SUCCESS', jsonb_build_object('n', n) FROM generate_series(1, 20) AS n`;
    await settle();
    await someActivity();
    await settle();
    const total = await prisma().auditEntry.count();
    const removed = await new AuditRetention({ repo: repo(), retentionDays: 365 }).purge(new Date());
    expect(removed).toBe(20);
    expect(await prisma().auditEntry.count()).toBe(total - 20);
    expect(await prisma().auditEntry.count({ where: { occurredAt: { lt: new Date(Date.now() - 365 * 86_400_000) } } })).toBe(0);
    const report = await verify();
    expect(report).toMatchObject({ ok: true, broken: null });
    expect(report.firstSeq! > 1n).toBe(true);
    expect(report.checked).toBe(total - 20);
  });

  it('seals every entry into one chain, in order, that verifies', async () => {
    await someActivity();
    const report = await verify();
    expect(report).toMatchObject({ ok: true, broken: null, unsealed: 0 });
    expect(report.firstSeq).toBe((await prisma().auditSeal.findFirstOrThrow({ orderBy: { seq: 'asc' } })).seq);
    expect(report.checked).toBe(await prisma().auditEntry.count());
    expect(await prisma().auditPending.count()).toBe(0);
  });

  it('seals a commit of an idle service within milliseconds, and a steady stream of commits in rounds at least 250 ms apart', async () => {
    const tag = `stream-${Date.now()}`;
    const insert = (i: number) => prisma().$executeRaw`
      INSERT INTO audit_log (action, outcome, details) VALUES ('security.alert', 'SUCCESS', jsonb_build_object('tag', ${tag}::text, 'i', ${i}::int))`;
    const sealed = () => prisma().$queryRaw<{ i: number; sealed_at: Date; lag_ms: number }[]>`
      SELECT (a.details->>'i')::int AS i, s.sealed_at, (extract(epoch FROM s.sealed_at - a.occurred_at) * 1000)::float8 AS lag_ms
      FROM audit_seals s JOIN audit_log a ON a.id = s.entry_id WHERE a.details->>'tag' = ${tag}`;
    await settle();
    await new Promise((r) => setTimeout(r, 600)); // idle: no pass for longer than the spacing
    await insert(-1);
    const [single] = await eventually(sealed, (rows) => rows.length === 1, 5_000);
    expect(single!.lag_ms).toBeLessThan(200);

    // ~30 commits a second for two seconds, each waking the sealer.
    const t0 = Date.now();
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + i * 33 - Date.now())));
      await insert(i);
    }
    const streamMs = Date.now() - t0;
    const rows = (await eventually(sealed, (r) => r.length === 61, 10_000)).filter((r) => r.i >= 0);
    const rounds = new Set(rows.map((r) => r.sealed_at.getTime())).size;
    expect(rounds).toBeLessThanOrEqual(Math.ceil(streamMs / 250) + 2);
    expect(await verify()).toMatchObject({ ok: true, broken: null });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of entries and seals, whoever asks', async () => {
    await someActivity();
    await settle();
    const entry = await prisma().auditEntry.findFirstOrThrow();
    const refused = (sql: string) => prisma().$executeRawUnsafe(sql).then(() => 'accepted', (e: unknown) => String((e as Error).message));
    for (const sql of [
      `UPDATE audit_log SET action = 'user.signed_out' WHERE id = '${entry.id}'`,
      `DELETE FROM audit_log WHERE id = '${entry.id}'`,
      'TRUNCATE audit_log',
      'UPDATE audit_seals SET key_id = key_id',
      'DELETE FROM audit_seals',
      'TRUNCATE audit_seals',
    ]) {
      expect(await refused(sql), sql).toMatch(/append-only/);
    }
    // Retention's own switch does not open recent rows, nor updates.
    await expect(
      prisma().$transaction(async (tx) => {
        await tx.$executeRaw`SELECT set_config('latchkey.audit_retention_cutoff', ${new Date(Date.now() - 86_400_000).toISOString()}, true)`;
        await tx.$executeRawUnsafe(`DELETE FROM audit_log WHERE id = '${entry.id}'`);
      }),
    ).rejects.toThrow(/append-only/);
    expect(await prisma().auditEntry.count({ where: { id: entry.id } })).toBe(1);
  });

  it('reports the first broken link when an entry is altered directly, and `npm run audit:verify` exits 1 naming it', async () => {
    await someActivity();
    expect((await verify()).ok).toBe(true);
    const seal = await prisma().auditSeal.findFirstOrThrow({ orderBy: { seq: 'desc' }, skip: 3 });
    const original = await prisma().auditEntry.findUniqueOrThrow({ where: { id: seal.entryId } });
    await asSuperuserWithoutTriggers(prisma(), [`UPDATE audit_log SET ip = '10.6.6.6' WHERE id = '${seal.entryId}'`]);

    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.broken).toEqual({ kind: 'entry_altered', seq: seal.seq, entryId: seal.entryId });

    const cli = spawnEntry('src/audit-verify.ts', fx.entryEnv());
    const { code } = await cli.exited();
    expect(code).toBe(1);
    expect(cli.lines.join('\n')).toContain(`seal #${seal.seq}`);

    await asSuperuserWithoutTriggers(prisma(), [`UPDATE audit_log SET ip = ${original.ip === null ? 'NULL' : `'${original.ip}'`} WHERE id = '${seal.entryId}'`]);
    expect((await verify()).ok).toBe(true);
  });

  it('reports a deleted entry, and a deleted seal', async () => {
    await someActivity();
    const seal = await prisma().auditSeal.findFirstOrThrow({ orderBy: { seq: 'desc' }, skip: 2 });
    await asSuperuserWithoutTriggers(prisma(), [`DELETE FROM audit_log WHERE id = '${seal.entryId}'`]);
    expect((await verify()).broken).toEqual({ kind: 'entry_missing', seq: seal.seq, entryId: seal.entryId });

    await asSuperuserWithoutTriggers(prisma(), [`DELETE FROM audit_seals WHERE seq = ${seal.seq}`]);
    expect((await verify()).broken).toEqual({ kind: 'seal_missing', seq: seal.seq + 1n, expectedSeq: seal.seq });
  });
});
