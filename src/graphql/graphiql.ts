import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { makeHTMLParts, ruruHTML } from 'ruru/server';
import { getStaticFile } from 'ruru/static';
import { GRAPHIQL_PATH } from './graphiql-paths.js';

const STATIC_PATH = '/graphiql-static/';
const WS_CLIENT_PATH = `${STATIC_PATH}graphql-ws/`;

/** graphql-ws's browser ESM client (client.js and the one chunk it imports), served from our origin. */
const WS_CLIENT_FILES = (() => {
  const dir = join(dirname(createRequire(import.meta.url).resolve('graphql-ws')), '');
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    if (/^(client|common-[A-Za-z0-9_-]+)\.js$/.test(name)) files.set(name, readFileSync(join(dir, name)));
  }
  if (!files.has('client.js')) throw new Error('graphql-ws browser client not found');
  return files;
})();

const INIT_SCRIPT = `<script type="module">
import { React, createRoot, Ruru } from "${STATIC_PATH}ruru.js";
import { createClient } from "${WS_CLIENT_PATH}client.js";
const operationOf = (query, name) => {
  const src = query.replace(/#[^\\n]*/g, "").replace(/"(?:[^"\\\\]|\\\\.)*"/g, '""');
  const ops = [...src.matchAll(/(?:^|[}\\s])(query|mutation|subscription)\\b\\s*([_A-Za-z][_0-9A-Za-z]*)?/g)];
  const op = name ? ops.find((m) => m[2] === name) : ops[0];
  return op ? op[1] : "query";
};
const http = async (params, opts) => {
  const res = await fetch(RURU_CONFIG.endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...(opts && opts.headers) },
    body: JSON.stringify(params),
  });
  return res.json();
};
const fetcher = (params, opts) => {
  if (operationOf(params.query || "", params.operationName) !== "subscription") return http(params, opts);
  const client = createClient({ url: RURU_CONFIG.subscriptionEndpoint, connectionParams: (opts && opts.headers) || {}, retryAttempts: 0 });
  const events = client.iterate({ query: params.query, variables: params.variables, operationName: params.operationName });
  return {
    [Symbol.asyncIterator]() { return this; },
    next: () => events.next(),
    async return() { await events.return?.(); client.dispose(); return { done: true, value: undefined }; },
  };
};
createRoot(document.getElementById("ruru-root")).render(React.createElement(Ruru, { ...RURU_CONFIG, fetcher }));
</script>`;

/**
 * GraphiQL (ruru's build) served entirely by this server: the page and every asset come from our own
 * origin, so it works offline and under a strict CSP. Development only; production never registers it.
 */
export function graphiqlRoutes(publicUrl: string) {
  const wsUrl = `${publicUrl.replace(/^http/, 'ws')}/graphql`;
  const config = { endpoint: '/graphql', subscriptionEndpoint: wsUrl, staticPath: STATIC_PATH };
  // Ruru sends subscriptions over HTTP unless GraphiQL hands it the parsed document (it expects a
  // server-sent-events transport). Ours are on the WebSocket, so the page gets a fetcher that routes
  // subscriptions through graphql-ws's own browser client, with the Headers editor as connectionParams.
  const defaultInit = makeHTMLParts(config).bodyInitScript;
  const page = ruruHTML(config);
  if (!page.includes(defaultInit)) throw new Error('ruru changed its page layout: revisit graphiql.ts');
  const html = page.replace(defaultInit, INIT_SCRIPT);
  // Allow exactly the page's own inline scripts (by hash), the bundle from this origin, and the API's
  // HTTP and WebSocket endpoints: no CDN, no eval, no other host.
  const scriptHashes = [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)]
    .map((m) => m[1] ?? '')
    .filter((body) => body.trim().length > 0)
    .map((body) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`);
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${scriptHashes.join(' ')}`,
    "worker-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${wsUrl}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return async (app: FastifyInstance) => {
    app.get(`${WS_CLIENT_PATH}:file`, async (req, reply) => {
      const file = WS_CLIENT_FILES.get((req.params as { file: string }).file);
      if (!file) return reply.callNotFound();
      return reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(file);
    });
    app.get(`${STATIC_PATH}*`, async (req, reply) => {
      const file = await getStaticFile({
        staticPath: STATIC_PATH,
        urlPath: req.url.split('?')[0] ?? '',
        acceptEncoding: req.headers['accept-encoding'],
        disallowDevAssets: true,
      });
      if (!file) return reply.callNotFound();
      return reply.headers(file.headers).send(file.content);
    });
    app.get(GRAPHIQL_PATH, async (_req, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', csp).send(html));
  };
}
