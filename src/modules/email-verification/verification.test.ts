import { describe, expect, it } from 'vitest';
import { bearer, codeOf, me, newIdentity, register, rest } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { sentTo, tokenIn } from '../../test/mail-server.js';

const JSON_ACCEPT = { accept: 'application/json' };

describe('EmailVerificationService', () => {
  const fx = useTestServer('verify', { mail: true });

  const verificationMail = (to: string) => fx.mail.waitForDelivery((m) => sentTo(m, to) && /verify/i.test(m.subject), 10_000);

  it('sends the verification email with a working link in both parts, through the real Resend client', async () => {
    const id = newIdentity('verify');
    const t = await register(fx.server, id);
    const mail = await verificationMail(t.user.email);
    expect(mail.idempotencyKey).toBeTruthy();
    expect(mail.authorization).toBe('Bearer re_test_key_123');
    const token = tokenIn(mail.text);
    expect(tokenIn(mail.html)).toBe(token);
    expect(mail.text ?? '').toContain(`http://auth.test.local/auth/verify-email?token=`);

    // `me` before the click caches the profile beside the session; the click must invalidate it.
    expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(false);
    expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(false);
    // An API client asking for JSON verifies with the GET itself (anything else only gets the page: below).
    const click = await rest(fx.server, 'GET', `/auth/verify-email?token=${encodeURIComponent(token)}`, undefined, JSON_ACCEPT);
    expect(click.status).toBe(200);
    expect(click.body).toMatchObject({ verified: true, user: { id: t.user.id, emailVerified: true } });
    expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(true);

    const again = await rest(fx.server, 'GET', `/auth/verify-email?token=${encodeURIComponent(token)}`, undefined, JSON_ACCEPT);
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ code: 'INVALID_TOKEN' });
    const events = await fx.server.infra.prisma.securityEvent.findMany({ where: { userId: t.user.id, type: 'EMAIL_VERIFIED' } });
    expect(events).toHaveLength(1);
    const row = await fx.server.infra.prisma.emailMessage.findFirstOrThrow({ where: { userId: t.user.id, template: 'verify-email' } });
    expect(row).toMatchObject({ status: 'SENT', providerId: mail.id });
    expect(JSON.stringify(row.data)).not.toContain(token);
  });

  it('sends a browser on to the app with the outcome (303), once the page\'s button has posted the token', async () => {
    const t = await register(fx.server);
    const token = tokenIn((await verificationMail(t.user.email)).text);
    // Opening the link shows a page; its form posts the token back to the same path.
    const page = await fetch(`${fx.server.url}/v1/auth/verify-email?token=${encodeURIComponent(token)}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post" action="verify-email">');
    const ok = await fetch(`${fx.server.url}/v1/auth/verify-email`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
      redirect: 'manual',
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('http://app.test.local/?emailVerification=success');
    const bad = await fetch(`${fx.server.url}/auth/verify-email?token=${encodeURIComponent(token)}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(bad.headers.get('location')).toBe('http://app.test.local/?emailVerification=invalid');
  });

  it('a GET that does not ask for JSON changes nothing (a browser, a mail scanner, a link preview): the page posts the token', async () => {
    const t = await register(fx.server);
    const token = tokenIn((await verificationMail(t.user.email)).text);
    const link = `${fx.server.url}/auth/verify-email?token=${encodeURIComponent(token)}`;
    const asked: Record<string, string>[] = [{ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, { accept: '*/*' }, {}, { accept: 'image/png' }];
    for (const headers of asked) {
      const res = await fetch(link, { headers, redirect: 'manual' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      // The form's POST answers with a 303 to the app (another origin here): browsers check form-action on that redirect too.
      expect(res.headers.get('content-security-policy')).toContain("form-action 'self' http://app.test.local;");
      const html = await res.text();
      expect(html).toContain(`<input type="hidden" name="token" value="${token}">`);
      expect(html).not.toMatch(/<script/i);
      expect((await fetch(link, { method: 'HEAD', headers })).status).toBe(200);
    }
    expect((await fetch(link, { method: 'HEAD', headers: JSON_ACCEPT })).status).toBe(200);
    const row = await fx.server.infra.prisma.oneTimeToken.findFirstOrThrow({ where: { userId: t.user.id, purpose: 'EMAIL_VERIFICATION' } });
    expect(row.consumedAt).toBeNull();
    expect((await me(fx.server, t.accessToken)).body.data?.me.emailVerified).toBe(false);
    expect(await fx.server.infra.prisma.securityEvent.count({ where: { userId: t.user.id, type: 'EMAIL_VERIFIED' } })).toBe(0);
    // The REST twin of verifyEmail: POST with JSON.
    const posted = await rest(fx.server, 'POST', '/auth/verify-email', { token });
    expect(posted.status).toBe(200);
    expect(posted.body).toMatchObject({ verified: true, user: { id: t.user.id, emailVerified: true } });
    // A used link opened in a browser goes on to the app's "invalid" page, still without acting.
    const used = await fetch(link, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(used.status).toBe(303);
    expect(used.headers.get('location')).toBe('http://app.test.local/?emailVerification=invalid');
  });

  it('race: two uses of one link, exactly one wins', async () => {
    const t = await register(fx.server);
    const token = tokenIn((await verificationMail(t.user.email)).text);
    const results = await Promise.all([1, 2, 3].map(() => gql(fx.server, 'mutation V($t: String!) { verifyEmail(token: $t) { emailVerified } }', { t: token })));
    expect(results.filter((r) => r.body.data).length).toBe(1);
    expect(results.filter((r) => codeOf(r.body) === 'INVALID_TOKEN').length).toBe(2);
  });

  it('answers INVALID_TOKEN for unknown, malformed and expired tokens', async () => {
    for (const token of ['A'.repeat(43), 'nope', '../../etc']) {
      expect(codeOf((await gql(fx.server, 'mutation V($t: String!) { verifyEmail(token: $t) { id } }', { t: token })).body)).toBe('INVALID_TOKEN');
    }
    const t = await register(fx.server);
    const token = tokenIn((await verificationMail(t.user.email)).text);
    await fx.server.infra.prisma.oneTimeToken.updateMany({ where: { userId: t.user.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(codeOf((await gql(fx.server, 'mutation V($t: String!) { verifyEmail(token: $t) { id } }', { t: token })).body)).toBe('INVALID_TOKEN');
  });

  it('resendVerificationEmail sends a fresh link, voids the old one, and answers false once verified', async () => {
    const t = await register(fx.server);
    const first = tokenIn((await verificationMail(t.user.email)).text);
    const resent = await gql(fx.server, 'mutation { resendVerificationEmail }', undefined, bearer(t.accessToken));
    expect(resent.body.data).toEqual({ resendVerificationEmail: true });
    const second = tokenIn((await fx.mail.waitForDelivery((m) => sentTo(m, t.user.email) && tokenIn(m.text) !== first, 10_000)).text);
    expect(codeOf((await gql(fx.server, 'mutation V($t: String!) { verifyEmail(token: $t) { id } }', { t: first })).body)).toBe('INVALID_TOKEN');
    expect((await gql(fx.server, 'mutation V($t: String!) { verifyEmail(token: $t) { emailVerified } }', { t: second })).body.data).toEqual({ verifyEmail: { emailVerified: true } });
    expect((await gql(fx.server, 'mutation { resendVerificationEmail }', undefined, bearer(t.accessToken))).body.data).toEqual({ resendVerificationEmail: false });
    expect(codeOf((await gql(fx.server, 'mutation { resendVerificationEmail }')).body)).toBe('UNAUTHENTICATED');
  });

  it('never logs a verification token, even from the link request itself', async () => {
    const t = await register(fx.server);
    const token = tokenIn((await verificationMail(t.user.email)).text);
    await rest(fx.server, 'GET', `/auth/verify-email?token=${encodeURIComponent(token)}`, undefined, JSON_ACCEPT);
    expect(fx.server.logs.some((l) => l.includes('"route":"/auth/verify-email"'))).toBe(true);
    expect(fx.server.logs.join('\n')).not.toContain(token);
  });
});
