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
    app.get(GRAPHIQL_PATH, async (_req, reply) => reply.type('text/html; charset=utf-8').send(html));
  };
}
