import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { bearer, codeOf, login, newIdentity, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';

describe('password handling', () => {
  const fx = useTestServer('pwsec', { env: { PASSWORD_MIN_LENGTH: '10', MFA_ISSUER: 'Acme Identity' } });
  const passwords: string[] = [];

  it('verifies every byte: passwords equal in their first 72 bytes are different passwords', async () => {
    const base = 'correct horse battery staple '.repeat(3); // 87 bytes
    const id = { ...newIdentity('long'), password: `${base}A` };
    passwords.push(id.password);
    await register(fx.server, id);
    expect(codeOf((await login(fx.server, id.username, `${base}B`)).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBeUndefined();
  });

  it('treats NUL bytes as characters, not terminators', async () => {
    const id = { ...newIdentity('nul'), password: 'prefix-secret\u0000tail-one' };
    passwords.push(id.password);
    await register(fx.server, id);
    expect(codeOf((await login(fx.server, id.username, 'prefix-secret')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, id.username, 'prefix-secret\u0000tail-two')).body)).toBe('INVALID_CREDENTIALS');
    expect(codeOf((await login(fx.server, id.username, id.password)).body)).toBeUndefined();
  });

  it('raises the floor with PASSWORD_MIN_LENGTH', async () => {
    const res = await rest(fx.server, 'POST', '/auth/register', { ...newIdentity('floor'), password: 'nine chrs' });
    expect(res.body).toMatchObject({ code: 'WEAK_PASSWORD' });
  });

  it('refuses passwords leaning on the service name, the username or the email, and trivial patterns', async () => {
    const id = newIdentity('ctx');
    const local = id.email.split('@')[0]!;
    for (const password of ['Latchkey2024!', 'my-latchkey-pw', 'AcmeIdentity99', `${id.username}-2024!`, `${local.toUpperCase()}123`, 'zzzzzzzzzzzz', 'abcabcabcabc', 'abcdefghijkl']) {
      const res = await rest(fx.server, 'POST', '/auth/register', { ...id, password });
      expect(res.body, password).toMatchObject({ code: 'WEAK_PASSWORD' });
      expect(await fx.server.infra.prisma.user.count({ where: { username: id.username } })).toBe(0);
    }
    // Naming oneself is fine when the rest is a password on its own.
    const t = await register(fx.server, { ...id, password: `${id.username} plum otter kayak` });
    passwords.push(`${id.username} plum otter kayak`);

    const change = (newPassword: string) =>
      gql(fx.server, 'mutation C($i: ChangePasswordInput!) { changePassword(input: $i) }', { i: { currentPassword: `${id.username} plum otter kayak`, newPassword } }, bearer(t.accessToken));
    const weak = await change(`${local}!2024`);
    expect(codeOf(weak.body)).toBe('WEAK_PASSWORD');
    expect(weak.body.errors?.[0]?.extensions?.fields).toHaveProperty('newPassword');
    expect(codeOf((await change('latchkeylatchkey')).body)).toBe('WEAK_PASSWORD');
  });

  it('stores only a bcrypt hash at the configured cost, never the password', async () => {
    const id = newIdentity('stored');
    passwords.push(id.password);
    const t = await register(fx.server, id);
    const row = await fx.server.infra.prisma.user.findUniqueOrThrow({ where: { id: t.user.id } });
    expect(row.passwordHash).toMatch(/^\$2b\$04\$/);
    expect(JSON.stringify(row)).not.toContain(id.password);
  });

  it('runs bcrypt once, against a hash of the same cost, for an unknown identifier as for a wrong password', async () => {
    const id = newIdentity('timing');
    await register(fx.server, id);
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      await login(fx.server, id.username, 'wrong password here');
      const wrong = compare.mock.calls.map((c) => String(c[1]).slice(0, 7));
      compare.mockClear();
      await login(fx.server, 'no_such_user_zz', 'wrong password here');
      await login(fx.server, 'no.such@example.com', 'wrong password here');
      const unknown = compare.mock.calls.map((c) => String(c[1]).slice(0, 7));
      expect(wrong).toEqual(['$2b$04$']);
      expect(unknown).toEqual(['$2b$04$', '$2b$04$']);
    } finally {
      compare.mockRestore();
    }
  });

  it('never logs a password', () => {
    const logs = fx.server.logs.join('\n');
    for (const p of passwords) {
      expect(logs).not.toContain(p);
      expect(logs).not.toContain(JSON.stringify(p).slice(1, -1));
    }
  });
});
