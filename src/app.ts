import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import Fastify, { LogController, type FastifyHttpOptions, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { GraphQLSchema } from 'graphql';
import { createApollo } from './graphql/apollo.js';
import { documentRules } from './graphql/limits.js';
import type { GraphQLContext } from './graphql/context.js';
import { GRAPHIQL_PATH, wantsHtml } from './graphql/graphiql-paths.js';
import { buildGraphQLSchema, instanceContainer, type ResolverClasses, type RoleCheck } from './graphql/schema.js';
import { attachGraphQLWs, type GraphQLWsServer, type WsOptions } from './graphql/ws.js';
import type { PubSub } from 'type-graphql';
import { sendProblem, toAppError } from './http/problem.js';
import { openApiRoutes } from './http/api-reference.js';
import { buildOpenApiDocument, type ApiDoc, type DeclaredRoute } from './http/openapi.js';
import { z } from 'zod';
import { clientIpOf, originChecker } from './http/client.js';
import { httpExchange } from './http/exchange.js';
import { requestMeta } from './http/request-meta.js';
import type { Config } from './infra/config.js';
import { byAddress } from './infra/limit-spec.js';
import type { SigningKeys } from './infra/crypto/keys.js';
import { AppError } from './infra/errors.js';
import type { Logger } from './infra/logger.js';
import type { Metrics } from './infra/metrics.js';
import type { Limits } from './infra/rate-limit.js';
import type { HealthService } from './modules/health/health.service.js';
import { healthRoutes } from './modules/health/health.routes.js';
import { MetricsEndpoint } from './modules/health/metrics-endpoint.js';
import { methodLabel } from './infra/metrics.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Probes and metrics: access line at `debug` only, no general budget. */
    probe?: boolean;
  }
  interface FastifyRequest {
    /** The GraphQL root field label (operation-label.ts) of this request, for its access-log line. */
    graphqlOperation: string | undefined;
  }
}

/** What the HTTP server needs; the composition root (main.ts, or a test) builds it. */
export interface AppDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  keys: SigningKeys;
  health: HealthService;
  limits: Limits;
  /** Every resolver class of the API. */
  resolverClasses: ResolverClasses;
  /** Resolver instances, one per class. */
  resolvers: object[];
  /** Feature REST doors, each mounted under both `/auth` and `/v1/auth`. */
  restRoutes: FastifyPluginAsync[];
  /** Routes mounted at the root (development tools such as /dev/mail). */
  rootRoutes?: FastifyPluginAsync[];
  /** Feature REST doors for operators, mounted under `/v1/admin`. */
  adminRoutes?: FastifyPluginAsync[];
  /** The role guard behind `@Authorized(role)` (subscriptions: checked at subscribe time and per event). */
  requireRole: RoleCheck;
  /** What subscriptions need: the pub/sub they read, and socket authentication. */
  realtime: {
    pubSub: PubSub;
    authenticate: WsOptions['authenticate'];
    recheck: WsOptions['recheck'];
    /** A fresh stream of sessions ending on any instance (one Redis subscription per app). */
    sessionEnded(): WsOptions['sessionEnded'];
    /** The pub/sub's subscriber connection: sockets close when it drops. */
    link?: WsOptions['pubSubLink'];
  };
}

export interface App {
  readonly fastify: FastifyInstance;
  readonly ws: GraphQLWsServer;
  readonly schema: GraphQLSchema;
  /** Every route registered (HEAD twins aside), and whether it declares its API (GET /openapi.json). */
  readonly routes: readonly { readonly method: string; readonly url: string; readonly documented: boolean }[];
  /** Stops accepting, closes sockets with 1001, drains HTTP (connections still open after `drainMs` are cut). */
  close(drainMs?: number): Promise<void>;
}

export const REST_PREFIXES = ['/auth', '/v1/auth'] as const;
export const ADMIN_PREFIX = '/v1/admin';
const REQUEST_ID = /^[\w.-]{1,64}$/;
/** The methods an `Allow` header can list (OPTIONS is answered on every path, by CORS). */
const ALLOW_CANDIDATES: readonly HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The whole server without `listen()`. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, log, metrics } = deps;
  // First, before anything listens: a resolver class without its instance (or the reverse) stops the start.
  const resolvers = instanceContainer(deps.resolverClasses, deps.resolvers);
  // https.Server serves the same API as http.Server for all we use (upgrade, closeAllConnections), so
  // the instance is typed as the plain HTTP one whether or not TLS is on.
  const fastify = Fastify({
    loggerInstance: log,
    bodyLimit: config.http.bodyLimit,
    // `true`, or the proxies' IPs/CIDRs, checked by the config parse (Fastify ignores hop counts).
    trustProxy: typeof config.http.trustProxy === 'boolean' ? config.http.trustProxy : [...config.http.trustProxy],
    // Honour a caller's request id when it is well formed, so one id follows a request across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      // Fastify's two lines per request (incoming, completed) give way to one access line (onResponse below).
      disableRequestLogging: true,
    }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(config.http.tls
      ? { https: { cert: readFileSync(config.http.tls.certFile), key: readFileSync(config.http.tls.keyFile) } }
      : {}),
  } as FastifyHttpOptions<Server>) as unknown as FastifyInstance;

  // Every route's path and methods, matched the way Fastify's own router (find-my-way) matches them,
  // so a known path asked with another method answers 405 with `Allow` instead of 404.
  const routesByMethod = FindMyWay();
  fastify.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url === '/*') return; // @fastify/cors's catch-all for preflights
    for (const given of [route.method].flat()) {
      // Fastify's method type admits lower case; its router, like this one, takes upper case.
      const method = given.toUpperCase() as HTTPMethod;
      if (!routesByMethod.hasRoute(method, route.url)) routesByMethod.on(method, route.url, () => undefined);
    }
  });
  // Every route that declares its API (`config.api`), as registered (prefix included): GET /openapi.json.
  const declared: DeclaredRoute[] = [];
  const routes: { method: string; url: string; documented: boolean }[] = [];
  fastify.addHook('onRoute', (route) => {
    const api = route.config?.api;
    for (const given of [route.method].flat()) {
      const method = given.toUpperCase();
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, documented: api !== undefined });
      if (api) declared.push({ method, url: route.url, api });
    }
  });
  const allowedMethods = (path: string) => ALLOW_CANDIDATES.filter((m) => routesByMethod.find(m, path) !== null);

  // JSON only: a text/plain body is how a cross-site form would smuggle a request past CORS.
  fastify.removeContentTypeParser('text/plain');

  fastify.decorateRequest('graphqlOperation', undefined);

  // Request ids reach log lines through Fastify's request logger, the GraphQL context's logger, and
  // `meta.requestId` in services: no AsyncLocalStorage, whose promise hooks cost ~10% per call on Node 20.
  fastify.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // Responses of the API doors may carry tokens: no cache, shared or private, may keep them.
  fastify.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/graphql') || REST_PREFIXES.some((p) => req.url.startsWith(`${p}/`))) {
      reply.header('cache-control', 'no-store');
      reply.header('pragma', 'no-cache');
    }
  });
  fastify.addHook('onResponse', async (req, reply) => {
    // Bounded labels: the route's pattern (never the raw URL), one of seven methods or `other`, a status we set.
    const route = req.routeOptions.url ?? 'unmatched';
    const method = methodLabel(req.method);
    metrics.httpRequests.inc({ method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
    logAccess(req, reply);
  });

  fastify.setErrorHandler((err, req, reply) => {
    const appError = toAppError(err, req);
    if (isGraphQLRoute(req)) {
      return reply.code(appError.status).send({ errors: [{ message: appError.message, extensions: appError.publicExtensions }] });
    }
    return sendProblem(reply, appError, req.url.split('?')[0]);
  });
  fastify.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    // A preflight reaches here only when @fastify/cors refused its origin: say so, granting nothing.
    if (req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
      return sendProblem(reply, new AppError('FORBIDDEN', 'This origin may not call the API from a browser (CORS_ORIGINS)'), path);
    }
    // A route that exists for this very method and still answered "not found" (an unknown file) is a 404.
    const allow = routesByMethod.find(req.method as HTTPMethod, path) === null ? allowedMethods(path) : [];
    if (allow.length > 0) {
      reply.header('allow', allow.join(', '));
      return sendProblem(reply, new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow.join(', ')}`), path);
    }
    return sendProblem(reply, new AppError('NOT_FOUND', `No route for ${req.method} ${path}`));
  });

  const isAllowedOrigin = originChecker(config.http.corsOrigins, config.http.publicUrl);
  await fastify.register(helmet, {
    global: true,
    // The API serves JSON: nothing may load or frame it. GraphiQL sets its own, wider policy.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    hsts: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
  await fastify.register(cors, {
    // CORS_ORIGINS drives this and the WebSocket handshake alike: one allowlist.
    origin: (origin, cb) => cb(null, !origin || isAllowedOrigin(origin)),
    credentials: true,
    maxAge: 600,
  });

  // The general per-IP budget, one mechanism for every route: each HTTP request pays one point at the
  // door, before its body is read (probes and /metrics excepted; a CORS preflight is answered above
  // without any work). GraphQL root fields pay on top, the first of a request excepted: this point
  // covers it (GeneralBudget), so an ordinary request still makes one Redis round trip for the budget.
  const prepaid = new WeakSet<FastifyRequest>();
  fastify.addHook('onRequest', async (req) => {
    if (req.routeOptions.config.probe) return;
    await deps.limits.consume('general', [byAddress(req.ip)]);
    prepaid.add(req);
  });

  const schema = await buildGraphQLSchema(deps.resolverClasses, resolvers, deps.realtime.pubSub, deps.requireRole);
  const rules = documentRules();
  const apollo = createApollo({ schema, metrics, introspection: config.http.graphiql, validationRules: rules });
  await apollo.start();

  const context = async (req: FastifyRequest, reply: FastifyReply): Promise<GraphQLContext> => ({
    log: req.log,
    meta: requestMeta(req),
    authorization: req.headers.authorization,
    http: httpExchange(req, reply),
    limits: deps.limits,
    ...(prepaid.has(req) ? { generalPrepaid: { points: 1 } } : {}),
    noteOperation: (label) => {
      req.graphqlOperation = label;
    },
  });
  const graphqlHandler = fastifyApolloHandler(apollo, { context });

  // GraphiQL's bundle (ruru, Monaco, React: ~230 MB) is a dev dependency, loaded only where it is served.
  const graphiql = config.http.graphiql ? await loadGraphiql(log) : undefined;
  if (graphiql) await fastify.register(graphiql(config.http.publicUrl));
  fastify.route({
    url: '/graphql',
    method: ['GET', 'POST'],
    // A browser navigating to /graphql lands in GraphiQL; API clients' GET queries reach Apollo.
    onRequest: async (req, reply) => {
      if (req.method === 'GET' && graphiql && wantsHtml(req.headers.accept)) {
        return reply.redirect(GRAPHIQL_PATH, 302);
      }
    },
    handler: graphqlHandler,
  });

  // With METRICS_PORT set, a listener of its own serves /metrics (metrics-endpoint.ts) and this port does not.
  const metricsHere = config.metrics.port === undefined ? new MetricsEndpoint(metrics.registry, log, config.metrics.token) : undefined;
  await fastify.register(healthRoutes(deps.health, metricsHere));
  fastify.get('/.well-known/jwks.json', { config: { api: JWKS_API } }, async (_req, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(deps.keys.jwks),
  );
  for (const routes of deps.rootRoutes ?? []) await fastify.register(routes);
  for (const prefix of REST_PREFIXES) {
    await fastify.register(
      async (scope) => {
        // The general per-IP budget is charged for every REST call by the root onRequest hook above.
        for (const routes of deps.restRoutes) await scope.register(routes);
      },
      { prefix },
    );
  }
  await fastify.register(
    async (scope) => {
      for (const routes of deps.adminRoutes ?? []) await scope.register(routes);
    },
    { prefix: ADMIN_PREFIX },
  );

  let document: Record<string, unknown> | undefined;
  await fastify.register(
    openApiRoutes(() => (document ??= buildOpenApiDocument(declared, API_INFO)), { reference: !config.isProduction }),
  );
  await fastify.ready();
  const ws = attachGraphQLWs({
    server: fastify.server,
    schema,
    log,
    limits: deps.limits,
    rules,
    authenticate: deps.realtime.authenticate,
    recheck: deps.realtime.recheck,
    sessionEnded: deps.realtime.sessionEnded(),
    pubSubLink: deps.realtime.link,
    isAllowedOrigin,
    clientIp: clientIpOf(config.http.trustProxy),
  });

  return {
    fastify,
    ws,
    schema,
    routes,
    async close(drainMs = 5_000) {
      await ws.close();
      const cut = setTimeout(() => fastify.server.closeAllConnections(), drainMs);
      try {
        await fastify.close();
      } finally {
        clearTimeout(cut);
      }
      await apollo.stop();
    },
  };
}

/** The longest path an access line keeps of a request no route matched (a scanner's probe, a typo). */
const MAX_LOGGED_PATH = 128;

/**
 * The one access-log line of a request, written when its response is complete. Every field is bounded:
 * the route's pattern rather than the URL (whose query can carry a link's token), a method label, the
 * address as trust-proxy resolved it, the GraphQL root field label. Probes and /metrics log at `debug`.
 */
function logAccess(req: FastifyRequest, reply: FastifyReply): void {
  const probe = req.routeOptions.config.probe === true;
  const route = req.routeOptions.url;
  const line: Record<string, unknown> = {
    method: methodLabel(req.method),
    route: route ?? 'unmatched',
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
    ip: req.ip,
  };
  // Unmatched, or caught by a catch-all (CORS preflights: `*`): the path, cut short, without its query, so
  // operators see what was asked for.
  if (route === undefined || route === '*' || route === '/*') line.path = (req.url.split('?', 1)[0] ?? '').slice(0, MAX_LOGGED_PATH);
  if (req.graphqlOperation !== undefined) line.operation = req.graphqlOperation;
  if (probe) req.log.debug(line, 'request completed');
  else req.log.info(line, 'request completed');
}

async function loadGraphiql(log: Logger) {
  try {
    return (await import('./graphql/graphiql.js')).graphiqlRoutes;
  } catch (err) {
    log.warn({ err }, 'GraphiQL is enabled but its package is not installed (production install?); serving none');
    return undefined;
  }
}

const API_INFO = {
  title: 'Latchkey',
  version: '1.0.0',
  description:
    'The REST doors of Latchkey, over the same services as its GraphQL API. Every route under /v1/auth is also served under /auth. Errors are application/problem+json (RFC 9457) whose `code` equals the GraphQL extensions.code.',
  tags: {
    'sign-in': 'Sign-up and sign-in: password, second factor, email link',
    sessions: 'Refresh, sign out, and the caller\'s sessions',
    account: 'The signed-in account: profile, password, recent authentication, erasure',
    'two-factor': 'TOTP enrollment (sensitive: needs a recent sign-in)',
    passkeys: "The caller's passkeys (adding one is sensitive: needs a recent sign-in)",
    'security-events': "The caller's security events",
    'password-reset': 'Forgotten passwords',
    links: 'What the links in emails open or post to',
    admin: 'Operators (SUPPORT and ADMIN accounts) under /v1/admin',
    introspection: 'RFC 7662 token introspection for resource servers and gateways',
    keys: 'Keys that verify access tokens',
    probes: 'Health, readiness and metrics',
    meta: 'This document',
  },
};

const JWKS_API: ApiDoc = {
  summary: 'The public keys that verify access tokens (JWK set)',
  tags: ['keys'],
  security: 'none',
  responses: {
    200: {
      description: 'One entry per key of JWT_PRIVATE_KEYS; cache for the five minutes Cache-Control allows',
      schema: z.object({ keys: z.array(z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), alg: z.literal('ES256'), use: z.literal('sig') })) }),
    },
  },
};

const isGraphQLRoute = (req: FastifyRequest) => req.url === '/graphql' || req.url.startsWith('/graphql?');
