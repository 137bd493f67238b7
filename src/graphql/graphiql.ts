import type { FastifyInstance } from 'fastify';
import { ruruHTML } from 'ruru/server';
import { getStaticFile } from 'ruru/static';

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
    app.get('/graphiql', async (_req, reply) => reply.type('text/html; charset=utf-8').send(html));
  };
}

/** A browser navigating to GET /graphql gets GraphiQL; API clients sending GET queries do not. */
export const wantsHtml = (accept: string | undefined): boolean => !!accept && accept.includes('text/html');

export const GRAPHIQL_PATH = '/graphiql';
