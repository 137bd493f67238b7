import { describe, expect, it } from 'vitest';
import { mailRenderer } from '../../composition.js';
import type { TemplateData, TemplateName } from './render.js';

// Every module's templates, as the worker renders them.
const renderEmail = mailRenderer.render;
const TEMPLATE_NAMES = [...mailRenderer.names];

const TOKEN = 'q3Zr_8-Kx0AbCdEfGhIjKlMnOpQrStUvWxYz0123456';
const VERIFY = `http://localhost:4000/auth/verify-email?token=${TOKEN}`;
const RESET = `https://app.example.com/reset-password?token=${TOKEN}`;

const samples: { [K in TemplateName]: TemplateData[K] } = {
  'verify-email': { username: 'alice', link: VERIFY, expiresInHours: 24 },
  'reset-password': { username: 'alice', link: RESET, expiresInMinutes: 30 },
  'password-changed': {
    username: 'alice',
    changedAt: '2026-11-25T07:50:09.123Z',
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
    resetLink: 'https://app.example.com/forgot-password',
  },
  'new-sign-in': {
    username: 'alice',
    at: '2026-11-25T07:50:09.123Z',
    ip: null,
    userAgent: null,
    sessionsLink: 'https://app.example.com/settings/sessions',
    denyLink: `https://app.example.com/deny-sign-in?token=${TOKEN}`,
  },
  'account-locked': { username: 'alice', until: '2026-11-25T08:05:00.000Z', unlockLink: `https://app.example.com/unlock?token=${TOKEN}` },
  'mfa-changed': { username: 'alice', enabled: true, at: '2026-11-25T07:50:09.123Z', ip: '203.0.113.7', userAgent: 'ua', resetLink: 'https://app.example.com/forgot-password' },
  'mfa-code-failed': { username: 'alice', at: '2026-11-25T07:50:09.123Z', ip: '203.0.113.7', resetLink: 'https://app.example.com/forgot-password' },
  'magic-link': { username: 'alice', link: `https://app.example.com/magic-link?token=${TOKEN}`, expiresInMinutes: 15 },
  'passkey-changed': { username: 'alice', added: true, name: 'Laptop', at: '2026-11-25T07:50:09.123Z', ip: '203.0.113.7', userAgent: 'ua', resetLink: 'https://app.example.com/forgot-password' },
  'sign-in-denied': {
    username: 'alice',
    at: '2026-11-25T07:50:09.123Z',
    sessionEnded: true,
    resetLink: 'https://app.example.com/forgot-password',
    sessionsLink: 'https://app.example.com/sessions',
  },
};

const linkOf = (name: TemplateName): string => {
  const d = samples[name] as unknown as Record<string, string>;
  return d.link ?? d.resetLink ?? d.sessionsLink ?? d.unlockLink ?? '';
};

describe('renderEmail', () => {
  it.each(TEMPLATE_NAMES)('%s: a plain subject, both parts, the link verbatim in each', (name) => {
    const mail = renderEmail(name, samples[name] as never);
    const link = linkOf(name);
    expect(link).not.toBe('');
    expect(mail.subject.length).toBeGreaterThan(5);
    expect(mail.subject).not.toMatch(/[<>&\n]/);
    expect(mail.html).toMatch(/^<!DOCTYPE html>/);
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.text).toContain(link);
    expect(mail.text).not.toMatch(/<[a-z!/]/i);
    expect(mail.text).toContain('Hi alice,');
    expect(mail.html).toContain('Hi alice,');
    // Email clients: inline styles only, nothing fetched from elsewhere.
    expect(mail.html).not.toMatch(/<img|<link|@import|url\(|<script|<style/i);
  });

  it('carries token=<token> in the query of both parts of the token emails', () => {
    for (const name of ['verify-email', 'reset-password', 'account-locked', 'magic-link', 'new-sign-in'] as const) {
      const mail = renderEmail(name, samples[name] as never);
      const inText = [...mail.text.matchAll(/https?:\/\/\S+/g)].map((m) => new URL(m[0]));
      const inHtml = [...mail.html.matchAll(/href="([^"]+)"/g)].map((m) => new URL(m[1]!.replace(/&amp;/g, '&')));
      expect(inText.some((u) => u.searchParams.get('token') === TOKEN)).toBe(true);
      expect(inHtml.some((u) => u.searchParams.get('token') === TOKEN)).toBe(true);
      expect(mail.text).toContain(`token=${TOKEN}`);
      expect(mail.html).toContain(`token=${TOKEN}`);
    }
  });

  it('keeps a second query parameter intact: raw in text, &amp; in HTML (what a parser reads as &)', () => {
    const link = `https://app.example.com/reset-password?token=${TOKEN}&from=mail`;
    const mail = renderEmail('reset-password', { username: 'alice', link, expiresInMinutes: 30 });
    expect(mail.text).toContain(link);
    expect(mail.html).toContain(`href="https://app.example.com/reset-password?token=${TOKEN}&amp;from=mail"`);
  });

  it('escapes every user-supplied value in HTML and keeps the text part one line per value', () => {
    const nasty = '<script>alert("x")</script>"\'&`=';
    const mail = renderEmail('new-sign-in', {
      username: nasty,
      at: '2026-11-25T07:50:09Z',
      ip: '"><img src=x onerror=alert(1)>',
      userAgent: 'evil\r\nClick here: https://evil.example/phish',
      sessionsLink: 'https://app.example.com/settings/sessions',
      denyLink: `https://app.example.com/deny-sign-in?token=${TOKEN}`,
    });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).not.toContain('<img');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;&#x27;&amp;&#x60;&#x3D;');
    expect(mail.html).toContain('&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    // Text is not HTML: values as given, but no injected line breaks.
    expect(mail.text).toContain(`Hi ${nasty},`);
    // The User-Agent is never printed (see below); what is printed stays on its line.
    expect(mail.text).toContain('Device:     an unknown browser\n');
    expect(mail.text).not.toMatch(/^Click here/m);
  });

  it('shows the parsed browser and system, never the User-Agent itself, in every email that names a device', () => {
    const attacks = [
      // A real browser's header with markup and a link appended, and a header that is nothing but bait.
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0 <a href="https://evil.example/phish">Click https://evil.example/phish</a>', 'Firefox 128 on Windows'],
      ['Click https://evil.example/phish <b>now</b>/1.0 (Visit evil.example)', 'an unknown browser'],
    ] as const;
    for (const [userAgent, shown] of attacks) {
      const mails = [
        renderEmail('new-sign-in', { ...samples['new-sign-in'], userAgent }),
        renderEmail('password-changed', { ...samples['password-changed'], userAgent }),
        renderEmail('mfa-changed', { ...samples['mfa-changed'], userAgent }),
      ];
      for (const mail of mails) {
        expect(mail.text).toContain(`Device:     ${shown}\n`);
        expect(mail.html).toContain(`<td style="padding:2px 0;">${shown}</td>`);
        for (const part of [mail.text, mail.html]) {
          expect(part).not.toContain('evil.example');
          expect(part).not.toContain('Click');
          expect(part).not.toContain('<b>');
          expect(part).not.toContain('&lt;b&gt;');
        }
      }
    }
  });

  it('escapes quotes in the username of every template', () => {
    for (const name of TEMPLATE_NAMES) {
      const mail = renderEmail(name, { ...samples[name], username: 'x"<script>y' } as never);
      expect(mail.html).toContain('Hi x&quot;&lt;script&gt;y,');
      expect(mail.html).not.toContain('x"<script>');
      expect(mail.subject).not.toContain('script');
    }
  });

  it('refuses links that are not absolute http(s) URLs, without echoing them', () => {
    for (const link of ['javascript:alert(1)', '/relative?token=abc', 'https://x.example/a"onmouseover="x', 'data:text/html,hi']) {
      let message = '';
      try {
        renderEmail('verify-email', { username: 'a', link, expiresInHours: 24 });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/mail template/);
      expect(message).not.toContain(link);
    }
  });

  it('shows times in UTC, unknown for missing IP and device, and the expiry', () => {
    const signIn = renderEmail('new-sign-in', samples['new-sign-in']);
    expect(signIn.text).toContain('When:       2026-11-25 07:50 UTC');
    expect(signIn.text).toContain('IP address: unknown');
    expect(signIn.text).toContain('Device:     unknown');
    expect(signIn.text).toMatch(/If this wasn't you, sign that session out/);
    expect(renderEmail('verify-email', samples['verify-email']).text).toContain('expires in 24 hours');
    expect(renderEmail('verify-email', { ...samples['verify-email'], expiresInHours: 1 }).text).toContain('expires in 1 hour ');
    expect(renderEmail('reset-password', samples['reset-password']).html).toContain('expires in 30 minutes');
    const changed = renderEmail('password-changed', samples['password-changed']);
    expect(changed.text).toContain("If this wasn't you, reset your password now:\nhttps://app.example.com/forgot-password");
    expect(changed.html).toContain("If this wasn't you");
    expect(renderEmail('account-locked', samples['account-locked']).text).toContain('locked until 2026-11-25 08:05 UTC');
  });

  it('has distinct subjects', () => {
    const subjects = TEMPLATE_NAMES.map((n) => renderEmail(n, samples[n] as never).subject);
    expect(new Set(subjects).size).toBe(TEMPLATE_NAMES.length);
    expect(subjects).toEqual([
      'Verify your email address',
      'Reset your password',
      'Your password was changed',
      'New sign-in to your account',
      'Your account has been locked',
      'Two-factor sign-in was changed on your account',
      'Someone has your password',
      'Your sign-in link',
      'The passkeys of your account changed',
      'We signed out a device you did not recognise',
    ]);
  });
});
