import Handlebars from 'handlebars';
import { describeUserAgent } from './user-agent.js';

/**
 * The rendering engine of transactional email: each template (one file each, in the module that sends
 * it) has a subject, an HTML part and a text part; this file compiles and renders them.
 *
 * Library: Handlebars (handlebars.js 4.7). Its `{{value}}` escapes HTML (`& < > " ' \` =`) by default,
 * so a value reaches the HTML unescaped only where a helper returns a `SafeString` on purpose (the
 * link helper, below). Templates are logic-less, compiled once when the renderer is made (at start) in
 * `strict` mode with `knownHelpersOnly`, so a misspelt field or an unknown helper fails at start, not in
 * a worker. The text part is compiled separately with `noEscape` (plain text must not carry `&lt;`).
 *
 * Links are built by the caller from `PUBLIC_URL` / `APP_URL` (never the Host header). They appear
 * verbatim in the text part and in the HTML part (where only `&` becomes `&amp;`, which an HTML
 * parser reads back as `&`), so `token=<token>` is found in both (docs/api.md, "REST routes").
 */

/**
 * The variables of every template, by name. Empty here: each template file adds its own entry
 * (`declare module '.../render.js' { interface TemplateData { ... } }`), so the mail pipeline is typed
 * end to end without this file knowing any feature.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging, per template
export interface TemplateData {}

export type TemplateName = keyof TemplateData & string;

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** One email: its sources, which of its variables are links, and sample data. */
export interface MailTemplate<N extends TemplateName> {
  readonly name: N;
  readonly subject: string;
  /** Handlebars source of the HTML part (see layout.ts for the shared page). */
  readonly html: string;
  /** Handlebars source of the text part. */
  readonly text: string;
  /** Variables that are links: checked to be absolute http(s) URLs before rendering. */
  readonly links: readonly (keyof TemplateData[N] & string)[];
  /** Rendered once when the renderer is made, so a template that cannot render fails the start. */
  readonly sample: TemplateData[N];
}

/** A template of any name (what a module's manifest lists). */
export type AnyMailTemplate = { [N in TemplateName]: MailTemplate<N> }[TemplateName];

/** Types a template against its `TemplateData` entry. */
export const defineTemplate = <N extends TemplateName>(template: MailTemplate<N>): MailTemplate<N> => template;

export interface MailRenderer {
  /** The templates it renders, in the order given. */
  readonly names: readonly TemplateName[];
  render<N extends TemplateName>(name: N, data: TemplateData[N]): RenderedEmail;
}

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
// Compiled once, when the renderer is made.

type Compiled = { subject: string; links: ReadonlySet<string>; html: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate };

const compileOptions = { strict: true, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true } as const;

/** Copies `data`, dropping control and bidi characters from every string (links are checked, not altered). */
function sanitize(name: string, links: ReadonlySet<string>, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (links.has(key)) out[key] = checkLink(value, key);
    else out[key] = typeof value === 'string' ? clean(value) : value;
  }
  for (const key of links) if (!(key in out)) throw new TypeError(`mail template ${name}: ${key} is missing`);
  return out;
}

/** Compiles every template now (two with one name, or one that cannot render its sample, throw). */
export function createMailRenderer(templates: readonly AnyMailTemplate[]): MailRenderer {
  const compiled = new Map<string, Compiled>();
  for (const t of templates) {
    if (compiled.has(t.name)) throw new Error(`mail template ${t.name} is declared twice`);
    const c: Compiled = {
      subject: t.subject,
      links: new Set<string>(t.links),
      html: htmlEnv.compile(t.html, compileOptions),
      text: textEnv.compile(t.text, { ...compileOptions, noEscape: true }),
    };
    // Handlebars compiles a delegate on its first call: make that call now, so a broken template
    // (or a field the sample lacks, in strict mode) fails the start instead of a worker's job.
    c.html(t.sample);
    c.text(t.sample);
    compiled.set(t.name, c);
  }
  return {
    names: templates.map((t) => t.name),
    render(name, data) {
      const t = compiled.get(name);
      if (!t) throw new TypeError(`unknown mail template: ${String(name)}`);
      const safe = sanitize(name, t.links, data as unknown as Record<string, unknown>);
      return { subject: t.subject, html: t.html(safe), text: t.text(safe) };
    },
  };
}
