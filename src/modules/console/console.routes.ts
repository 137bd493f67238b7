import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';

/**
 * The account console: a small single-page app at `/account`, written as plain ES modules in `console/`
 * at the root of the repository and served as they are (no build step: `npm start` on a fresh clone and
 * the container image serve the same files). Every path under `/account` that names no file gets the
 * page (the app routes on the client), so each emailed link (`APP_URL/reset-password?token=`, ...) opens it.
 *
 * Only files listed at start-up are served (no path from the request reaches the file system). Outside
 * production they are read again on each request, so an edit shows on reload.
 */
export const CONSOLE_PATH = '/account';

/**
 * Scripts and styles from this origin only, no inline script or style, no eval; data: images for the
 * two-factor QR code; XHR and the WebSocket to this origin ('self' covers ws:/wss: of the same host);
 * DOM sinks take no strings (Trusted Types), so markup is never built from text.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "require-trusted-types-for 'script'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly file: string;
  readonly type: string;
}

/** The console's own files, and graphql-ws's browser client (a dependency) under `vendor/graphql-ws/`. */
function listAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const own = fileURLToPath(new URL('../../../console/', import.meta.url));
  const add = (dir: string, prefix: string, keep: (name: string) => boolean) => {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type && keep(name)) assets.set(`${prefix}${name}`, { file: join(dir, name), type });
    }
  };
  add(own, '', () => true);
  const wsDist = dirname(createRequire(import.meta.url).resolve('graphql-ws/client'));
  add(wsDist, 'vendor/graphql-ws/', (n) => n === 'client.js' || /^common-[\w-]+\.js$/.test(n));
  return assets;
}

interface Loaded {
  readonly body: Buffer;
  /** The same bytes gzipped once (a quarter of the size): most clients take it. */
  readonly gzipped: Buffer;
  readonly etag: string;
  readonly type: string;
}

const load = (a: Asset): Loaded => {
  const body = readFileSync(a.file);
  return { body, gzipped: gzipSync(body, { level: 9 }), type: a.type, etag: createHash('sha256').update(body).digest('base64url').slice(0, 22) };
};

const acceptsGzip = (req: FastifyRequest) => new Negotiator({ headers: { 'accept-encoding': req.headers['accept-encoding'] ?? '' } }).encoding(['gzip', 'identity']) === 'gzip';

export function consoleRoutes(opts: { reloadEachRequest: boolean }): FastifyPluginAsync {
  const assets = listAssets();
  const cached = new Map([...assets].map(([k, a]) => [k, load(a)]));
  const get = (key: string) => {
    const asset = assets.get(key);
    if (!asset) return undefined;
    return opts.reloadEachRequest ? load(asset) : cached.get(key);
  };
  const send = (req: FastifyRequest, reply: FastifyReply, f: Loaded) => {
    const gzip = acceptsGzip(req);
    const etag = `"${f.etag}${gzip ? '-gz' : ''}"`;
    reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache').header('vary', 'accept-encoding').header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.type(f.type).send(gzip ? f.gzipped : f.body);
  };

  return async (app) => {
    app.get(CONSOLE_PATH, async (req, reply) => send(req, reply, get('index.html')!));
    app.get(`${CONSOLE_PATH}/*`, async (req, reply) => {
      const rest = (req.params as { '*': string })['*'];
      const file = get(rest);
      if (file) return send(req, reply, file);
      // A missing file is a 404; any other path is a page of the app.
      if (extname(rest) !== '') return reply.callNotFound();
      return send(req, reply, get('index.html')!);
    });
  };
}
