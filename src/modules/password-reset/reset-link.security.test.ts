import { describe, expect, it } from 'vitest';
import { register, rest } from '../../test/auth-client.js';
import { useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';

describe('the reset link', () => {
  const fx = useTestServer('reset-link', { mail: true });

  it('opening it (GET) changes nothing: the service resets on POST only, and the link still works', async () => {
    const t = await register(fx.server);
    expect((await rest(fx.server, 'POST', '/auth/reset-password/request', { email: t.user.email })).status).toBe(202);
    const mail = await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && /reset/i.test(m.subject), 10_000);
    expect(mail.text ?? '').toContain('http://app.test.local/reset-password?token=');
    const token = tokenIn(mail.text);
    for (const path of [`/reset-password?token=${token}`, `/auth/reset-password?token=${token}`, `/auth/reset-password/confirm?token=${token}`]) {
      for (const accept of ['text/html', '*/*']) expect([404, 405]).toContain((await fetch(`${fx.server.url}${path}`, { headers: { accept } })).status);
    }
    const row = await fx.server.infra.prisma.oneTimeToken.findFirstOrThrow({ where: { userId: t.user.id, purpose: 'PASSWORD_RESET' } });
    expect(row.consumedAt).toBeNull();
    expect((await rest(fx.server, 'POST', '/auth/reset-password/confirm', { token, newPassword: 'a fresh and long passphrase' })).status).toBe(204);
  });
});
