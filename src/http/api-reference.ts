import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { escapeHtml } from './link-pages.js';
import type { ApiDoc } from './openapi.js';

export const OPENAPI_PATH = '/openapi.json';
export const REFERENCE_PATH = '/api-reference';

type Json = Record<string, unknown>;
interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Json[];
  parameters?: { name: string; in: string; required: boolean; schema: Json }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}

/**
 * `GET /openapi.json`, and in development a readable reference of it at `GET /api-reference`: one page
 * rendered on the server from the same document, no script and nothing loaded from elsewhere.
 */
export function openApiRoutes(document: () => Json, opts: { reference: boolean }): FastifyPluginAsync {
  return async (app) => {
    app.get(OPENAPI_PATH, { config: { api: OPENAPI_API } }, async (_req, reply) => reply.header('cache-control', 'no-cache').send(document()));
    if (!opts.reference) return;
    let page: string | undefined;
    app.get(REFERENCE_PATH, async (_req, reply) =>
      reply
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
        .type('text/html; charset=utf-8')
        .send((page ??= renderReference(document()))),
    );
  };
}

const OPENAPI_API: ApiDoc = {
  summary: 'This document: every REST route, generated from the schemas the routes validate with',
  tags: ['meta'],
  security: 'none',
  responses: { 200: { description: 'An OpenAPI 3.1 document', schema: z.looseObject({ openapi: z.literal('3.1.0') }) } },
};

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}section.op{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700;font-family:ui-monospace,monospace}.get{color:#0a7d32}.post{color:#0b5cad}.delete{color:#b3261e}.put,.patch{color:#8a5a00}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f8fa;padding:.6rem;border-radius:4px;overflow:auto;max-height:24rem}
table{border-collapse:collapse}td,th{border:1px solid #e3e3e3;padding:.2rem .5rem;text-align:left;vertical-align:top}nav a{margin-right:.8rem}`;

const schemaHtml = (schema: Json) =>
  `<pre>${escapeHtml(JSON.stringify(schema, null, 2)).replace(/&#34;#\/components\/schemas\/([A-Za-z0-9_]+)&#34;/g, '<a href="#schema-$1">$1</a>')}</pre>`;

function operationHtml(path: string, method: string, op: Operation): string {
  const security = op.security.length === 0 ? 'none' : op.security.map((s) => Object.keys(s).join(', ')).join(' or ');
  const params = op.parameters?.length
    ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${op.parameters
        .map((p) => `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${p.in}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escapeHtml(JSON.stringify(p.schema))}</code></td></tr>`)
        .join('')}</table>`
    : '';
  const body = op.requestBody
    ? Object.entries(op.requestBody.content)
        .map(([type, c]) => `<p>Body (<code>${escapeHtml(type)}</code>${op.requestBody!.required ? '' : ', optional'}):</p>${schemaHtml(c.schema)}`)
        .join('')
    : '';
  const responses = Object.entries(op.responses)
    .map(([status, r]) => `<li><b>${status}</b> ${escapeHtml(r.description)}${Object.entries(r.content ?? {}).map(([type, c]) => `<details><summary><code>${escapeHtml(type)}</code></summary>${schemaHtml(c.schema)}</details>`).join('')}</li>`)
    .join('');
  return `<section class="op" id="${escapeHtml(op.operationId)}"><div><span class="m ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> ${escapeHtml(op.summary)}</div>
${op.description ? `<p>${escapeHtml(op.description)}</p>` : ''}<p>Credentials: ${escapeHtml(security)}</p>${params}${body}<ul>${responses}</ul></section>`;
}

/** The whole reference as one HTML page: operations grouped by tag, then the shared schemas. */
export function renderReference(doc: Json): string {
  const info = doc.info as { title: string; version: string; description: string };
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;
  const byTag = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), operationHtml(path, method, op)]);
    }
  }
  const tags = [...byTag.keys()].sort();
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(info.title)} REST reference</title><style>${STYLE}</style></head><body>
<h1>${escapeHtml(info.title)} REST reference <small>${escapeHtml(info.version)}</small></h1><p>${escapeHtml(info.description)}</p>
<p>The machine-readable document: <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a> (OpenAPI 3.1).</p>
<nav>${tags.map((t) => `<a href="#tag-${escapeHtml(t)}">${escapeHtml(t)}</a>`).join('')}<a href="#schemas">schemas</a></nav>
${tags.map((t) => `<h2 id="tag-${escapeHtml(t)}">${escapeHtml(t)}</h2>${byTag.get(t)!.join('\n')}`).join('\n')}
<h2 id="schemas">Schemas</h2>${Object.entries(schemas)
    .map(([name, s]) => `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>${schemaHtml(s)}`)
    .join('\n')}
</body></html>`;
}
