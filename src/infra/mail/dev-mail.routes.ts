import type { FastifyPluginAsync } from 'fastify';
import type { DevMail } from './dev-outbox.js';

/** Mails shown at most per page. */
const MAX_LIMIT = 200;
const DEFAULT_LIMIT = 50;

/** Quality of `type` in an Accept header (`*\/*` and `type/*` count), 0 when absent. */
function quality(accept: string, type: string): number {
  const [major] = type.split('/');
  let best = -1;
  let bestSpecificity = -1;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity < 0 || specificity < bestSpecificity) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = q ? Number(q.slice(2)) : 1;
    bestSpecificity = specificity;
    best = Number.isFinite(value) ? value : 0;
  }
  return Math.max(best, 0);
}

/** HTML only when the client ranks it above JSON (a browser); `*\/*`, curl and fetch get JSON. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  return quality(accept, 'text/html') > quality(accept, 'application/json');
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const isHttpUrl = (s: string): boolean => {
  try {
    const { protocol } = new URL(s);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
};

const anchor = (url: string): string =>
  isHttpUrl(url) ? `<a href="${escapeHtml(url)}" rel="noopener noreferrer">${escapeHtml(url)}</a>` : escapeHtml(url);

/** The text part, escaped, with its http(s) links clickable. */
function linkify(text: string): string {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"'`]+/gi)) {
    const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
    const at = m.index ?? 0;
    out.push(escapeHtml(text.slice(last, at)), anchor(url));
    last = at + url.length;
  }
  out.push(escapeHtml(text.slice(last)));
  return out.join('');
}

function page(mails: DevMail[]): string {
  const items = mails
    .map(
      (m) => `<article>
<header><h2>${escapeHtml(m.subject)}</h2>
<p class="meta">to <strong>${escapeHtml(m.to)}</strong> · <time datetime="${escapeHtml(m.sentAt)}">${escapeHtml(m.sentAt)}</time> · <code>${escapeHtml(m.id)}</code></p></header>
${m.links.length > 0 ? `<ul class="links">${m.links.map((l) => `<li>${anchor(l)}</li>`).join('')}</ul>` : ''}
<details><summary>Text part</summary><pre>${linkify(m.text)}</pre></details>
<details><summary>HTML part</summary><iframe sandbox="allow-popups allow-popups-to-escape-sandbox" title="HTML part of ${escapeHtml(m.subject)}" srcdoc="${escapeHtml(m.html)}"></iframe></details>
</article>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Dev outbox · Latchkey</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:16px;color:#1f2328}
article{border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:0 0 16px}
h2{font-size:17px;margin:0}.meta{color:#57606a;margin:4px 0 8px;font-size:13px}
.links a{word-break:break-all}pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:6px}
iframe{width:100%;height:480px;border:1px solid #d0d7de;border-radius:6px;background:#fff}
</style>
</head>
<body>
<h1>Dev outbox</h1>
<p>Mail this development server would have sent (no <code>RESEND_API_KEY</code>), newest first: ${mails.length} shown. Never served in production.</p>
${items || '<p><em>No mail yet.</em></p>'}
</body>
</html>
`;
}

/**
 * `GET /dev/mail`: the dev outbox, newest first. JSON `{ messages }` by default; an HTML page with
 * every link clickable when the client prefers `text/html`. `?limit=` (1..200, default 50).
 * Mounted by the composition root only without `RESEND_API_KEY` and outside production.
 */
export function devMailRoutes(outbox: { list(limit?: number): Promise<DevMail[]> }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit?: string } }>('/dev/mail', async (req, reply) => {
      const asked = Number(req.query.limit);
      const limit = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_LIMIT) : DEFAULT_LIMIT;
      const messages = await outbox.list(limit);
      // Tokens live in these pages: never cache them, never let them be framed or leak a referrer.
      reply
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .header('vary', 'accept');
      if (prefersHtml(req.headers.accept)) {
        return reply
          .header(
            'content-security-policy',
            "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          )
          .type('text/html; charset=utf-8')
          .send(page(messages));
      }
      return reply.type('application/json; charset=utf-8').send({ messages });
    });
  };
}
