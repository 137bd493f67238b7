import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devMailRoutes, prefersHtml } from './dev-mail.routes.js';
import type { DevMail } from './dev-outbox.js';

const TOKEN = 'AbC_123-tok';
const mails: DevMail[] = [
  {
    id: 'dev-2',
    to: 'bob@example.com',
    subject: 'Reset <your> "password"',
    text: `Open https://app.example.com/reset-password?token=${TOKEN}&a=b.\n<script>alert(1)</script>`,
    html: `<p>Hi</p><a href="https://app.example.com/reset-password?token=${TOKEN}&amp;a=b">reset</a>`,
    links: [`https://app.example.com/reset-password?token=${TOKEN}&a=b`, 'javascript:alert(1)'],
    sentAt: '2026-11-25T07:50:10.000Z',
  },
  {
    id: 'dev-1',
    to: 'alice@example.com',
    subject: 'Verify your email address',
    text: `http://localhost:4000/auth/verify-email?token=${TOKEN}`,
    html: '<p>verify</p>',
    links: [`http://localhost:4000/auth/verify-email?token=${TOKEN}`],
    sentAt: '2026-11-25T07:50:09.000Z',
  },
];

const limits: (number | undefined)[] = [];
let app: FastifyInstance;
beforeAll(async () => {
  app = Fastify();
  await app.register(
    devMailRoutes({
      async list(limit) {
        limits.push(limit);
        return mails.slice(0, limit);
      },
    }),
  );
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

describe('GET /dev/mail', () => {
  it('answers JSON by default, newest first as the outbox lists them, never cached', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const res = await app.inject({ method: 'GET', url: '/dev/mail', headers: accept ? { accept } : {} });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({ messages: mails });
    }
  });

  it('passes ?limit= within 1..200 (default 50)', async () => {
    limits.length = 0;
    await app.inject({ method: 'GET', url: '/dev/mail?limit=1' });
    await app.inject({ method: 'GET', url: '/dev/mail?limit=5000' });
    await app.inject({ method: 'GET', url: '/dev/mail?limit=abc' });
    expect(limits).toEqual([1, 200, 50]);
  });

  it('answers an HTML page to a browser, escaped, with every http(s) link clickable', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/dev/mail',
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    const body = res.body;
    expect(body).toContain(`<a href="https://app.example.com/reset-password?token=${TOKEN}&amp;a=b" rel="noopener noreferrer">`);
    expect(body).toContain(`<a href="http://localhost:4000/auth/verify-email?token=${TOKEN}" rel="noopener noreferrer">`);
    expect(body).not.toContain('href="javascript:');
    expect(body).not.toContain('<script>');
    expect(body).toContain('Reset &lt;your&gt; &quot;password&quot;');
    // The email's own HTML is shown in a sandboxed frame, escaped into srcdoc.
    expect(body).toContain('sandbox="allow-popups allow-popups-to-escape-sandbox"');
    expect(body).toContain('srcdoc="&lt;p&gt;Hi&lt;/p&gt;');
    // Newest first.
    expect(body.indexOf('bob@example.com')).toBeLessThan(body.indexOf('alice@example.com'));
  });

  it('negotiates by quality', () => {
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml('text/*')).toBe(true);
    expect(prefersHtml('application/json;q=0.9, text/html')).toBe(true);
    expect(prefersHtml('text/html;q=0.1, application/json')).toBe(false);
  });
});
