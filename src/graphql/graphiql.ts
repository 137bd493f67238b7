import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ruruHTML } from 'ruru/server';
import { getStaticFile } from 'ruru/static';
import { GRAPHIQL_PATH } from './graphiql-paths.js';

const STATIC_PATH = '/graphiql-static/';

/**
 * GraphiQL (ruru's build) served entirely by this server: the page and every asset come from our own
 * origin, so it works offline and under a strict CSP. Development only; production never registers it.
 */
export function graphiqlRoutes(publicUrl: string) {
  const wsUrl = `${publicUrl.replace(/^http/, 'ws')}/graphql`;
  const html = ruruHTML({ endpoint: '/graphql', subscriptionEndpoint: wsUrl, staticPath: STATIC_PATH });
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
