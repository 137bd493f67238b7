import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/db/migrate.js';
import { accountWithRole } from '../../test/admin-client.js';
import { bearer, newIdentity, register } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { verifyEmailOf } from '../../test/mail-server.js';

/** A spawned command starts the wiring (tsx, Prisma, Redis): generous on a loaded machine. */
const CLI_TIMEOUT_MS = 120_000;

/** Runs `npm run admin -- ...args` as an operator would, against the file's database and Redis. */
async function adminCli(args: string[], env: Record<string, string>) {
  const child = spawn('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: projectRoot(), env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  // A failure's last stderr line is `latchkey admin: <CODE>: <why>`.
  const errorCode = /^latchkey admin: ([A-Z0-9_]+): /m.exec(stderr.trim().split('\n').at(-1) ?? '')?.[1];
  return { code, stdout: stdout.trim(), stderr, errorCode };
}

/** The role the account's session sees now (read from the account at each call). */
const roleSeenBy = async (server: { url: string }, accessToken: string) =>
  (await gql<{ me: { role: string } }>(server, '{ me { role } }', undefined, bearer(accessToken))).body.data?.me.role;

describe('roles from outside the API', () => {
  const fx = useTestServer('bootstrap', { mail: true });
  const roleOf = async (userId: string) => (await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: userId }, select: { role: true } })).role;
  const promotions = (userId: string) => fx.server.infra.prisma.auditEntry.findMany({ where: { action: 'admin.role_changed', targetUserId: userId } });

  describe('ADMIN_EMAILS', () => {
    const boss = newIdentity('boss');
    const early = newIdentity('early');
    const unverified = newIdentity('idle');
    const env = () => ({ ADMIN_EMAILS: [boss.email, early.email, unverified.email].map((e) => e.toUpperCase()).join(',') });

    it('makes a listed account ADMIN only once its address is verified, at once for its open sessions', async () => {
      const server = await fx.start({ env: env() });
      const t = await register(server, boss);
      expect(await roleSeenBy(server, t.accessToken)).toBe('USER');
      expect(await promotions(t.user.id)).toEqual([]);
      await verifyEmailOf(server, fx.mail, t.user.email);
      expect(await roleSeenBy(server, t.accessToken)).toBe('ADMIN');
      expect(await promotions(t.user.id)).toEqual([expect.objectContaining({ actorId: null, details: { from: 'USER', to: 'ADMIN', via: 'ADMIN_EMAILS' } })]);
    });

    it('at start, for accounts verified before; never for an unverified one, and once however many instances start', async () => {
      const plain = fx.server;
      const verified = await register(plain, early);
      await verifyEmailOf(plain, fx.mail, verified.user.email);
      const idle = await register(plain, unverified);
      expect(await roleOf(verified.user.id)).toBe('USER');

      await Promise.all([fx.start({ env: env() }), fx.start({ env: env() })]);
      expect(await roleOf(verified.user.id)).toBe('ADMIN');
      expect(await roleSeenBy(plain, verified.accessToken)).toBe('ADMIN');
      expect(await promotions(verified.user.id)).toHaveLength(1);
      expect(await roleOf(idle.user.id)).toBe('USER');
    });
  });

  describe('npm run admin -- grant <email> <ROLE>', () => {
    it('sets the role with the same audit entry as setUserRole, effective at once', async () => {
      const t = await register(fx.server);
      const res = await adminCli(['grant', t.user.email.toUpperCase(), 'support'], fx.entryEnv());
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('SUPPORT (was USER)');
      expect(await roleSeenBy(fx.server, t.accessToken)).toBe('SUPPORT');
      expect(await promotions(t.user.id)).toEqual([expect.objectContaining({ actorId: null, details: { from: 'USER', to: 'SUPPORT', via: 'cli' } })]);
    }, CLI_TIMEOUT_MS);

    it('says clearly when the email or the role is unknown, or the command is malformed', async () => {
      const unknownEmail = await adminCli(['grant', 'nobody@example.com', 'ADMIN'], fx.entryEnv());
      expect([unknownEmail.code, unknownEmail.errorCode]).toEqual([1, 'UNKNOWN_EMAIL']);
      expect(unknownEmail.stderr).toContain('nobody@example.com');
      const unknownRole = await adminCli(['grant', 'nobody@example.com', 'ROOT'], fx.entryEnv());
      expect([unknownRole.code, unknownRole.errorCode]).toEqual([2, 'UNKNOWN_ROLE']);
      expect(unknownRole.stderr).toContain('USER, SUPPORT, ADMIN');
      const usage = await adminCli(['promote', 'nobody@example.com'], fx.entryEnv());
      expect([usage.code, usage.errorCode]).toEqual([2, 'USAGE']);
    }, CLI_TIMEOUT_MS);

    it('keeps the last ADMIN: FORBIDDEN', async () => {
      await fx.server.infra.prisma.user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'USER' } });
      const only = await accountWithRole(fx.server, 'ADMIN', 'sole');
      const res = await adminCli(['grant', only.user.email, 'USER'], fx.entryEnv());
      expect([res.code, res.errorCode]).toEqual([1, 'FORBIDDEN']);
      expect(await roleOf(only.user.id)).toBe('ADMIN');
    }, CLI_TIMEOUT_MS);
  });
});
