import Handlebars from 'handlebars';
import { describeUserAgent } from './user-agent.js';

/**
 * Transactional email templates: one per kind, each with a subject, an HTML part and a text part.
 *
 * Library: Handlebars (handlebars.js 4.7). Its `{{value}}` escapes HTML (`& < > " ' \` =`) by default,
 * so a value reaches the HTML unescaped only where a helper returns a `SafeString` on purpose (the
 * link helper, below). Templates are logic-less, compiled once at module load in `strict` mode with
 * `knownHelpersOnly`, so a misspelt field or an unknown helper fails at start, not in a worker.
 * The text part is compiled separately with `noEscape` (plain text must not carry `&lt;`).
 *
 * Links are built by the caller from `PUBLIC_URL` / `APP_URL` (never the Host header). They appear
 * verbatim in the text part and in the HTML part (where only `&` becomes `&amp;`, which an HTML
 * parser reads back as `&`), so `token=<token>` is found in both (CONTRACT.md §3).
 */

export type TemplateName = 'verify-email' | 'reset-password' | 'password-changed' | 'new-sign-in' | 'account-locked' | 'mfa-changed' | 'mfa-code-failed';

export interface TemplateData {
  'verify-email': { username: string; link: string; expiresInHours: number };
  'reset-password': { username: string; link: string; expiresInMinutes: number };
  'password-changed': { username: string; changedAt: string /* ISO */; ip: string | null; userAgent: string | null; resetLink: string };
  'new-sign-in': { username: string; at: string /* ISO */; ip: string | null; userAgent: string | null; sessionsLink: string };
  'account-locked': { username: string; until: string /* ISO */; unlockLink: string };
  /** Two-factor sign-in turned on (`enabled: true`) or off. */
  'mfa-changed': { username: string; enabled: boolean; at: string /* ISO */; ip: string | null; userAgent: string | null; resetLink: string };
  /** The right password, then too many wrong codes: that sign-in was stopped, and the password is known. */
  'mfa-code-failed': { username: string; at: string /* ISO */; ip: string | null; resetLink: string };
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export const TEMPLATE_NAMES: readonly TemplateName[] = [
  'verify-email',
  'reset-password',
  'password-changed',
  'new-sign-in',
  'account-locked',
  'mfa-changed',
  'mfa-code-failed',
];

/** Fields of each template that are links: checked to be absolute http(s) URLs before rendering. */
const LINK_FIELDS: { [K in TemplateName]: readonly (keyof TemplateData[K] & string)[] } = {
  'verify-email': ['link'],
  'reset-password': ['link'],
  'password-changed': ['resetLink'],
  'new-sign-in': ['sessionsLink'],
  'account-locked': ['unlockLink'],
  'mfa-changed': ['resetLink'],
  'mfa-code-failed': ['resetLink'],
};

// ---------------------------------------------------------------------------------------------
// Helpers shared by both parts

// C0/C1 controls, line/paragraph separators and bidi overrides: a username must not be able to
// start a new line in the text part (a fake "click here" line) or reorder what the reader sees.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;
const MAX_VALUE_LENGTH = 256;
/** One line, no control or bidi characters, at most 256 characters (a user agent can be anything). */
const clean = (s: string): string => {
  const line = s.replace(UNSAFE_CHARS, ' ').trim();
  return line.length > MAX_VALUE_LENGTH ? `${line.slice(0, MAX_VALUE_LENGTH - 1)}…` : line;
};

// Characters that never belong raw in a URL we built, and that would break out of an attribute.
// eslint-disable-next-line no-control-regex
const NOT_IN_URL = /[\s\u0000-\u001f\u007f"'<>`\\]/;

/** Throws (without echoing the value: it may carry a token) unless `value` is an absolute http(s) URL. */
function checkLink(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || NOT_IN_URL.test(value)) {
    throw new TypeError(`mail template: ${field} is not a usable URL`);
  }
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new TypeError(`mail template: ${field} is not an absolute URL`);
  }
  if (protocol !== 'https:' && protocol !== 'http:') throw new TypeError(`mail template: ${field} must be http(s)`);
  return value;
}

/** `2026-11-25T07:50:09.000Z` -> `2026-11-25 07:50 UTC`; an unparseable value is shown as given. */
function formatWhen(value: unknown): string {
  if (typeof value !== 'string') return 'an unknown time';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const plural = (n: unknown, unit: unknown): string => {
  const count = typeof n === 'number' && Number.isFinite(n) ? n : 0;
  return `${count} ${String(unit)}${count === 1 ? '' : 's'}`;
};

const orUnknown = (value: unknown): string => (typeof value === 'string' && value.length > 0 ? value : 'unknown');

const KNOWN_HELPERS = { link: true, when: true, plural: true, orUnknown: true, device: true } as const;

function environment(kind: 'html' | 'text'): typeof Handlebars {
  const env = Handlebars.create();
  env.registerHelper('link', (value: unknown) => {
    const url = checkLink(value, 'link');
    // In HTML only `&` needs escaping (the other specials are refused by checkLink); `=` stays, so
    // `token=<token>` is verbatim. In text the URL is printed as built.
    return kind === 'html' ? new env.SafeString(url.replace(/&/g, '&amp;')) : url;
  });
  env.registerHelper('when', formatWhen);
  env.registerHelper('plural', plural);
  env.registerHelper('orUnknown', orUnknown);
  // A User-Agent is the client's own text: only the browser and system names parsed from it are shown.
  env.registerHelper('device', describeUserAgent);
  return env;
}

const htmlEnv = environment('html');
const textEnv = environment('text');

// ---------------------------------------------------------------------------------------------
// Sources. Email clients ignore <style> blocks and block remote content: inline styles only, no
// images, no web fonts, a single-column table layout.

const FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;";
const P = `margin:0 0 16px;${FONT}font-size:15px;line-height:1.5;color:#1f2328;`;
const SMALL = `margin:0 0 12px;${FONT}font-size:13px;line-height:1.5;color:#57606a;`;
const BUTTON = `display:inline-block;padding:12px 20px;background:#1f6feb;color:#ffffff;${FONT}font-size:15px;font-weight:600;text-decoration:none;border-radius:6px;`;
const LINK = 'color:#1f6feb;word-break:break-all;';

const button = (field: string, label: string) =>
  `<p style="margin:0 0 20px;"><a href="{{link ${field}}}" style="${BUTTON}">${label}</a></p>
<p style="${SMALL}">If the button does not work, paste this link into your browser:<br><a href="{{link ${field}}}" style="${LINK}">{{link ${field}}}</a></p>`;

const layout = (title: string, body: string, footer: string) => `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
</head>
<body style="margin:0;padding:0;background:#f6f8fa;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f6f8fa;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;background:#ffffff;border:1px solid #d0d7de;border-radius:8px;">
<tr><td style="padding:28px 28px 8px;">
<p style="margin:0 0 20px;${FONT}font-size:18px;font-weight:700;color:#1f2328;">Latchkey</p>
${body}
</td></tr>
<tr><td style="padding:8px 28px 24px;border-top:1px solid #d0d7de;">
${footer}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;

const details = (rows: [label: string, expr: string][]) =>
  `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 20px;${FONT}font-size:14px;color:#1f2328;">
${rows.map(([label, expr]) => `<tr><td style="padding:2px 16px 2px 0;color:#57606a;">${label}</td><td style="padding:2px 0;">${expr}</td></tr>`).join('\n')}
</table>`;

interface Source {
  subject: string;
  html: string;
  text: string;
}

const SOURCES: Record<TemplateName, Source> = {
  'verify-email': {
    subject: 'Verify your email address',
    html: layout(
      'Verify your email address',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Please confirm that this is your email address to finish setting up your account.</p>
${button('link', 'Verify email address')}
<p style="${SMALL}">This link expires in {{plural expiresInHours "hour"}} and works once.</p>`,
      `<p style="${SMALL}">If you did not create an account, you can ignore this email: nothing happens without a click.</p>`,
    ),
    text: `Hi {{username}},

Please confirm that this is your email address to finish setting up your account:

{{link link}}

This link expires in {{plural expiresInHours "hour"}} and works once.

If you did not create an account, you can ignore this email: nothing happens without a click.
`,
  },

  'reset-password': {
    subject: 'Reset your password',
    html: layout(
      'Reset your password',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Someone asked to reset the password of your account. To choose a new password, open this link:</p>
${button('link', 'Choose a new password')}
<p style="${SMALL}">This link expires in {{plural expiresInMinutes "minute"}} and works once. Resetting your password signs you out everywhere.</p>`,
      `<p style="${SMALL}">If you did not ask for this, ignore this email: your password stays as it is.</p>`,
    ),
    text: `Hi {{username}},

Someone asked to reset the password of your account. To choose a new password, open this link:

{{link link}}

This link expires in {{plural expiresInMinutes "minute"}} and works once. Resetting your password signs you out everywhere.

If you did not ask for this, ignore this email: your password stays as it is.
`,
  },

  'password-changed': {
    subject: 'Your password was changed',
    html: layout(
      'Your password was changed',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">The password of your account was changed, and your other sessions were signed out.</p>
${details([
  ['When', '{{when changedAt}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}`,
      `<p style="${SMALL}"><strong>If this wasn't you</strong>, reset your password now: <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
    ),
    text: `Hi {{username}},

The password of your account was changed, and your other sessions were signed out.

When:       {{when changedAt}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this wasn't you, reset your password now:
{{link resetLink}}
`,
  },

  'mfa-changed': {
    subject: 'Two-factor sign-in was changed on your account',
    html: layout(
      'Two-factor sign-in was changed',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Two-factor sign-in was turned <strong>{{#if enabled}}on{{else}}off{{/if}}</strong> for your account.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}`,
      `<p style="${SMALL}"><strong>If this wasn't you</strong>, reset your password now: <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
    ),
    text: `Hi {{username}},

Two-factor sign-in was turned {{#if enabled}}on{{else}}off{{/if}} for your account.

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this wasn't you, reset your password now:
{{link resetLink}}
`,
  },

  'mfa-code-failed': {
    subject: 'Someone has your password',
    html: layout(
      'Someone has your password',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Someone signed in to your account with the right password, then gave wrong two-factor codes, so that sign-in was stopped.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
])}
<p style="${P}">If this was you, there is nothing to do.</p>`,
      `<p style="${SMALL}"><strong>If this wasn't you</strong>, your password is known to someone else: change it now. <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
    ),
    text: `Hi {{username}},

Someone signed in to your account with the right password, then gave wrong two-factor codes, so that sign-in was stopped.

When:       {{when at}}
IP address: {{orUnknown ip}}

If this was you, there is nothing to do.

If this wasn't you, your password is known to someone else: change it now.
{{link resetLink}}
`,
  },

  'new-sign-in': {
    subject: 'New sign-in to your account',
    html: layout(
      'New sign-in to your account',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Your account was just signed in to from a new device or place.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}
<p style="${P}">If this was you, there is nothing to do.</p>`,
      `<p style="${SMALL}"><strong>If this wasn't you</strong>, sign that session out and change your password: <a href="{{link sessionsLink}}" style="${LINK}">{{link sessionsLink}}</a></p>`,
    ),
    text: `Hi {{username}},

Your account was just signed in to from a new device or place.

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this was you, there is nothing to do.

If this wasn't you, sign that session out and change your password:
{{link sessionsLink}}
`,
  },

  'account-locked': {
    subject: 'Your account has been locked',
    html: layout(
      'Your account has been locked',
      `<p style="${P}">Hi {{username}},</p>
<p style="${P}">After too many failed sign-in attempts, your account is locked until {{when until}}. Someone may be trying to guess your password.</p>
<p style="${P}">Devices you have signed in from lately are held only by their own failed attempts, not by attempts from elsewhere.</p>
${button('unlockLink', 'Unlock my account')}`,
      `<p style="${SMALL}">If these attempts were not yours, consider changing your password once you are back in.</p>`,
    ),
    text: `Hi {{username}},

After too many failed sign-in attempts, your account is locked until {{when until}}. Someone may be trying to guess your password.

Devices you have signed in from lately are held only by their own failed attempts, not by attempts from elsewhere.

To unlock your account, open this link:
{{link unlockLink}}

If these attempts were not yours, consider changing your password once you are back in.
`,
  },
};

// ---------------------------------------------------------------------------------------------
// Compiled once at module load.

type Compiled = { subject: string; html: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate };

const compileOptions = { strict: true, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true } as const;

/** Sample data, typed by `TemplateData`: rendering it once at load compiles every template now. */
const SAMPLES: { [K in TemplateName]: TemplateData[K] } = {
  'verify-email': { username: 'sample', link: 'http://localhost/auth/verify-email?token=sample', expiresInHours: 24 },
  'reset-password': { username: 'sample', link: 'http://localhost/reset-password?token=sample', expiresInMinutes: 30 },
  'password-changed': { username: 'sample', changedAt: '2026-01-01T00:00:00Z', ip: null, userAgent: null, resetLink: 'http://localhost/r' },
  'new-sign-in': { username: 'sample', at: '2026-01-01T00:00:00Z', ip: '127.0.0.1', userAgent: 'ua', sessionsLink: 'http://localhost/s' },
  'account-locked': { username: 'sample', until: '2026-01-01T00:00:00Z', unlockLink: 'http://localhost/u' },
  'mfa-changed': { username: 'sample', enabled: true, at: '2026-01-01T00:00:00Z', ip: null, userAgent: null, resetLink: 'http://localhost/r' },
  'mfa-code-failed': { username: 'sample', at: '2026-01-01T00:00:00Z', ip: null, resetLink: 'http://localhost/r' },
};

const COMPILED = Object.fromEntries(
  TEMPLATE_NAMES.map((name) => {
    const s = SOURCES[name];
    const compiled: Compiled = {
      subject: s.subject,
      html: htmlEnv.compile(s.html, compileOptions),
      text: textEnv.compile(s.text, { ...compileOptions, noEscape: true }),
    };
    // Handlebars compiles a delegate on its first call: make that call now, so a broken template
    // (or a field the sample lacks, in strict mode) fails the import instead of a worker's job.
    compiled.html(SAMPLES[name]);
    compiled.text(SAMPLES[name]);
    return [name, compiled];
  }),
) as Record<TemplateName, Compiled>;

/** Copies `data`, dropping control and bidi characters from every string (links are checked, not altered). */
function sanitize(name: TemplateName, data: Record<string, unknown>): Record<string, unknown> {
  const links = new Set<string>(LINK_FIELDS[name]);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (links.has(key)) out[key] = checkLink(value, key);
    else out[key] = typeof value === 'string' ? clean(value) : value;
  }
  for (const key of links) if (!(key in out)) throw new TypeError(`mail template ${name}: ${key} is missing`);
  return out;
}

export function renderEmail<T extends TemplateName>(name: T, data: TemplateData[T]): RenderedEmail {
  const t = COMPILED[name];
  if (!t) throw new TypeError(`unknown mail template: ${String(name)}`);
  const safe = sanitize(name, data as unknown as Record<string, unknown>);
  return { subject: t.subject, html: t.html(safe), text: t.text(safe) };
}
