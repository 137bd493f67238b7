import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import Negotiator from 'negotiator';
import { isAppError } from '../infra/errors.js';

/**
 * The small pages a link in an email opens on this service. Opening a link never acts (mail scanners and
 * link previews follow links): the page says what will happen and its one button POSTs the token back.
 * Static text and one fixed style sheet (allowed by its hash), no script, under a CSP that lets the form post
 * to this origin only. The style makes the page readable on a phone and its button a finger's size.
 */
const PAGE_STYLE =
  'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:#1b1f24;max-width:40rem;margin:0 auto;padding:1rem}' +
  'h1{font-size:1.5rem}button{font:inherit;padding:.6rem 1rem;border-radius:6px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer}' +
  'button:focus-visible{outline:3px solid #b45309;outline-offset:2px}';
const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page: `title` and `body` are HTML the caller wrote (escape what it did not). */
export const linkPage = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${PAGE_STYLE}</style></head><body><h1>${title}</h1>${body}</body></html>`;

/** A form whose one button posts `token` to `action` (a path relative to the page, so `/auth` and `/v1/auth` both work). */
export const tokenForm = (action: string, token: string, label: string) =>
  `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit">${label}</button></form>`;

/**
 * Sends a page. `redirectsTo`: where the form's POST answers with a redirect (browsers apply `form-action` to
 * the redirect too), whose origin the CSP then allows as well.
 */
export const sendLinkPage = (reply: FastifyReply, status: number, html: string, redirectsTo?: string) =>
  reply
    .code(status)
    .header('content-security-policy', redirectsTo ? PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${new URL(redirectsTo).origin}`) : PAGE_CSP)
    .type('text/html; charset=utf-8')
    .send(html);

/**
 * Lets a scope's routes take the page's form (`token=`) besides JSON. Only for routes whose body is a
 * token and nothing else: the token is the credential, so a cross-site post gains nothing.
 */
export function acceptTokenForm(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
}

/** Whether a request body came from such a form (rather than JSON). */
export const isFormPost = (contentType: string | undefined) => (contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

/** An invalid, used or expired token (or none) becomes `value`; anything else is rethrown. */
export const ifInvalidToken =
  <T>(value: T) =>
  (err: unknown): T => {
    if (isAppError(err) && (err.code === 'INVALID_TOKEN' || err.code === 'BAD_USER_INPUT')) return value;
    throw err;
  };

/**
 * Whether a GET of a link asks for JSON above HTML (`Accept: application/json`): only an API client that
 * says so. A browser, a missing `Accept` and the wildcard (what mail scanners and link previews send) accept
 * HTML, so they get the page, which acts only when its button is pressed.
 */
export const asksForJson = (accept: string | undefined): boolean =>
  new Negotiator({ headers: accept === undefined ? {} : { accept } }).mediaType(['text/html', 'application/json']) === 'application/json';
