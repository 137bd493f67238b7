import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { accountWithRole, adminCall, adminRest, ADMIN_OPS, type AdminOp, type AdminUserView } from '../../test/admin-client.js';
import { codeOf, register, type Tokens } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';

type Page = { users: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: AdminUserView }[] } };

describe('admin API: reading accounts', () => {
  const fx = useTestServer('adminusers');
  let support: Tokens;
  let admin: Tokens;
  const tag = randomBytes(3).toString('hex');
  const made: Tokens[] = [];

  beforeAll(async () => {
    support = await accountWithRole(fx.server, 'SUPPORT');
    admin = await accountWithRole(fx.server, 'ADMIN');
    for (let i = 0; i < 5; i++) {
      made.push(await register(fx.server, { username: `Find${tag}_${i}`, email: `seek.${tag}.${i}@Example.com`, password: `pw-${randomBytes(9).toString('base64url')}-ok` }));
    }
  });

  const users = (variables: Record<string, unknown>, token = support.accessToken) => adminCall<Page>(fx.server, 'users', variables, token);

  it('searches a prefix of the username or the email, without regard to case, and counts every match', async () => {
    const byName = (await users({ filter: { query: `FIND${tag}` } })).body.data!.users;
    expect(byName.totalCount).toBe(5);
    expect(byName.edges.map((e) => e.node.id).sort()).toEqual(made.map((t) => t.user.id).sort());
    const byEmail = (await users({ filter: { query: `Seek.${tag}.3@` } })).body.data!.users;
    expect(byEmail.edges.map((e) => e.node.username)).toEqual([`Find${tag}_3`]);
    // LIKE's wildcards are taken as written: no username starts with `_`, and `%` matches nothing special.
    expect((await users({ filter: { query: '_' } })).body.data!.users.totalCount).toBe(0);
    expect((await users({ filter: { query: `find${tag}%` } })).body.data!.users.totalCount).toBe(0);
    expect((await users({ filter: { query: 'x'.repeat(255) } })).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('pages newest first with keyset cursors, each account exactly once, totalCount on every page', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Page['users'] = (await users({ filter: { query: `find${tag}` }, first: 2, after })).body.data!.users;
      expect(page.totalCount).toBe(5);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual([...made].reverse().map((t) => t.user.id));
    expect(codeOf((await users({ first: 2, after: 'bm9wZQ' })).body)).toBe('BAD_USER_INPUT');
    expect(codeOf((await users({ first: 101 })).body)).toBe('BAD_USER_INPUT');
  });

  it('filters by role and by standing', async () => {
    const admins = (await users({ filter: { role: 'ADMIN' }, first: 100 })).body.data!.users;
    expect(admins.edges.map((e) => e.node.id)).toEqual([admin.user.id]);
    await adminCall(fx.server, 'disableUser', { id: made[1]!.user.id, reason: 'spam' }, admin.accessToken);
    const disabled = (await users({ filter: { query: `find${tag}`, disabled: true } })).body.data!.users;
    expect(disabled.edges.map((e) => e.node)).toEqual([expect.objectContaining({ id: made[1]!.user.id, disabledReason: 'spam' })]);
    expect((await users({ filter: { query: `find${tag}`, disabled: false } })).body.data!.users.totalCount).toBe(4);
  });

  it('shows one account with its last sign-in and live sessions; REST lists and shows the same', async () => {
    const t = made[0]!;
    const one = (await adminCall<{ user: AdminUserView }>(fx.server, 'user', { id: t.user.id }, support.accessToken)).body.data!.user;
    expect(one).toMatchObject({ id: t.user.id, username: t.user.username, role: 'USER', activeSessions: 1, disabledAt: null, lockedUntil: null, emailVerified: false });
    expect(one.lastSignInAt).toBeTruthy();
    const sessions = await adminCall<{ userSessions: { id: string; current: boolean }[] }>(fx.server, 'userSessions', { userId: t.user.id }, support.accessToken);
    expect(sessions.body.data?.userSessions).toHaveLength(1);
    expect(sessions.body.data?.userSessions[0]?.current).toBe(false);

    expect((await adminRest(fx.server, 'GET', `/users/${t.user.id}`, support.accessToken)).body).toEqual(JSON.parse(JSON.stringify(one)));
    const listed = await adminRest(fx.server, 'GET', `/users?query=find${tag}&first=2`, support.accessToken);
    expect(listed.body).toMatchObject({ totalCount: 5, pageInfo: { hasNextPage: true } });
    expect((listed.body?.users as unknown[]).length).toBe(2);
    expect((await adminRest(fx.server, 'GET', '/users?first=abc', support.accessToken)).body).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('an unknown id: `user` answers null (REST 404), `userSessions` an empty list, every mutation BAD_USER_INPUT', async () => {
    const id = randomUUID();
    expect((await adminCall(fx.server, 'user', { id }, admin.accessToken)).body).toEqual({ data: { user: null } });
    expect((await adminRest(fx.server, 'GET', `/users/${id}`, admin.accessToken)).status).toBe(404);
    expect((await adminCall(fx.server, 'userSessions', { userId: id }, admin.accessToken)).body.data).toEqual({ userSessions: [] });
    const mutations = (Object.keys(ADMIN_OPS) as AdminOp[]).filter((op) => ADMIN_OPS[op].startsWith('mutation'));
    expect(mutations).toHaveLength(7);
    for (const op of mutations) {
      const variables = op === 'revokeUserSessions' ? { userId: id } : op === 'setUserRole' ? { id, role: 'USER' } : { id };
      expect(codeOf((await adminCall(fx.server, op, variables, admin.accessToken)).body), op).toBe('BAD_USER_INPUT');
      expect(codeOf((await adminCall(fx.server, op, { ...variables, ...('userId' in variables ? { userId: 'nope' } : { id: 'nope' }) }, admin.accessToken)).body), op).toBe('BAD_USER_INPUT');
    }
    for (const [method, path] of [['POST', 'disable'], ['POST', 'enable'], ['POST', 'sessions/revoke']] as const) {
      expect((await adminRest(fx.server, method, `/users/${id}/${path}`, admin.accessToken)).body).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    }
    expect((await adminRest(fx.server, 'DELETE', `/users/${id}`, admin.accessToken)).body).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    expect((await adminRest(fx.server, 'GET', '/users/nope', admin.accessToken)).body).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});
