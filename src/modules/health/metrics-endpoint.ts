import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PROBLEM_CONTENT_TYPE, problemOf } from '../../http/problem.js';
import type { Config } from '../../infra/config.js';
import { AppError } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';

export const METRICS_PATH = '/metrics';

export interface MetricsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The Prometheus exposition, whichever listener serves it: behind `Authorization: Bearer <METRICS_TOKEN>`
 * when a token is configured (compared in constant time), and never a bare 500: a collection failure
 * is logged with its cause and answered as problem+json.
 */
export class MetricsEndpoint {
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
    token?: string,
  ) {
    this.tokenDigest = token === undefined ? undefined : sha256(token);
  }

  /** True when no token is configured, or the header carries it. Both sides are hashed first, so lengths never differ. */
  authorized(authorization: string | undefined): boolean {
    if (!this.tokenDigest) return true;
    const given = BEARER.exec(authorization ?? '')?.[1];
    const match = timingSafeEqual(sha256(given ?? ''), this.tokenDigest);
    return given !== undefined && match;
  }

  async answer(authorization: string | undefined): Promise<MetricsAnswer> {
    if (!this.authorized(authorization)) {
      return problem(new AppError('UNAUTHENTICATED', 'Send Authorization: Bearer <METRICS_TOKEN>'), { 'www-authenticate': 'Bearer realm="metrics"' });
    }
    try {
      const body = await this.registry.metrics();
      return { status: 200, headers: { 'content-type': this.registry.contentType, 'cache-control': 'no-store' }, body };
    } catch (err) {
      this.log.error({ err }, 'metrics collection failed');
      return problem(new AppError('INTERNAL_SERVER_ERROR', 'Metrics collection failed; the error was logged'));
    }
  }
}

function problem(error: AppError, headers: Record<string, string> = {}): MetricsAnswer {
  return {
    status: error.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(problemOf(error, METRICS_PATH)),
  };
}

export interface MetricsListener {
  /** Where `/metrics` is served, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops accepting, lets a scrape in flight finish (cut after `drainMs`). */
  close(drainMs?: number): Promise<void>;
}

/**
 * `/metrics` on a listener of its own (METRICS_PORT, on METRICS_HOST), so operators can keep it off the
 * public port: a plain node:http server (HTTPS when the API has TLS) that answers nothing else.
 * Returns undefined when METRICS_PORT is unset (then the API port serves `/metrics`).
 */
export async function startMetricsListener(config: Config, registry: Registry, log: Logger): Promise<MetricsListener | undefined> {
  const { port, host, token } = config.metrics;
  if (port === undefined) return undefined;
  const endpoint = new MetricsEndpoint(registry, log, token);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    const answer =
      path === METRICS_PATH && (req.method === 'GET' || req.method === 'HEAD')
        ? await endpoint.answer(req.headers.authorization)
        : problem(new AppError('NOT_FOUND', `Only GET ${METRICS_PATH} is served here`));
    res.writeHead(answer.status, { 'x-content-type-options': 'nosniff', ...answer.headers });
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'metrics listener failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': PROBLEM_CONTENT_TYPE });
      res.end();
    });
  };
  const tls = config.http.tls;
  const server: Server | HttpsServer = tls
    ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, onRequest)
    : createHttpServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'metrics listener error'));
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${address.port}${METRICS_PATH}`;
  log.info({ url, bearerRequired: token !== undefined }, 'metrics listener ready');
  return {
    url,
    async close(drainMs = 2_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), drainMs);
      try {
        await closed;
      } finally {
        clearTimeout(cut);
      }
    },
  };
}
