import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'vitest';

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
}
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON when it is JSON. */
  json: Record<string, unknown> & { [k: string]: unknown };
}
export interface CallOptions {
  body?: unknown;
  form?: Record<string, string>;
  token?: string;
  headers?: Record<string, string>;
}

/**
 * A REST client that checks every answer against the OpenAPI document the server serves: the status must be
 * one the operation documents, and the body must validate (Ajv, JSON Schema 2020-12) against the schema of
 * its media type. It records which operations it saw, so a test can require that every one was exercised.
 */
export class OpenApiClient {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: { regex: RegExp; path: string }[];
  readonly covered = new Set<string>();

  constructor(
    private readonly baseUrl: string,
    readonly doc: Json & { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } },
  ) {
    (addFormats as unknown as (ajv: Ajv2020) => void)(this.ajv);
    this.ajv.addSchema({ $id: 'lk', $defs: rewrite(doc.components.schemas) });
    this.templates = Object.keys(doc.paths).map((path) => ({ path, regex: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
  }

  /** Every operation of the document, `/auth` twins folded into their `/v1/auth` originals. */
  operations(): string[] {
    return [...new Set(Object.entries(this.doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => key(m, path))))].sort();
  }

  async call(method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers };
    let body: string | undefined;
    if (opts.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const json = /[/+]json$/.test(type) && text ? (JSON.parse(text) as Answer['json']) : ({} as Answer['json']);
    this.check(method, path.split('?')[0]!, res.status, type, text, json);
    return { status: res.status, headers: res.headers, text, json };
  }

  private check(method: string, path: string, status: number, type: string, text: string, json: unknown): void {
    // A literal path wins over a template that also matches it (`/sessions/revoke-others` is not `/sessions/{id}`).
    const template = this.templates.find((t) => t.path === path) ?? this.templates.find((t) => t.regex.test(path));
    expect(template, `${method} ${path} is not in the OpenAPI document`).toBeDefined();
    const op = this.doc.paths[template!.path]![method.toLowerCase()];
    expect(op, `${method} ${template!.path} is not in the OpenAPI document`).toBeDefined();
    const response = op!.responses[String(status)];
    expect(response, `${method} ${path} answered ${status}, which the document does not list (${Object.keys(op!.responses).join(', ')}): ${text.slice(0, 300)}`).toBeDefined();
    this.covered.add(key(method, template!.path));
    if (!text) return;
    const media = response!.content?.[type];
    expect(media, `${method} ${path} ${status} answered ${type}, which the document does not list`).toBeDefined();
    const id = `${method} ${template!.path} ${status} ${type}`;
    let validate = this.compiled.get(id);
    if (!validate) {
      validate = this.ajv.compile(rewrite(media!.schema) as Json);
      this.compiled.set(id, validate);
    }
    const value = /[/+]json$/.test(type) ? json : text;
    expect(validate(value), `${id}: ${this.ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`).toBe(true);
  }
}

const key = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/^\/auth\//, '/v1/auth/')}`;

/** The document's component references, made to point into the schema registered as `lk`. */
function rewrite(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace('#/components/schemas/', 'lk#/$defs/') : rewrite(v)]));
}
