import { z } from 'zod';
import { ERROR_CODES, ERROR_TABLE, type ErrorCode } from '../infra/errors.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/** One answer of a route: its description, and the zod schema of its body as sent on the wire (none: no body). */
export interface ApiResponse {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** @default application/json */
  readonly mediaType?: string;
  /** Other media types the same status may carry (a page for a browser), each with its schema. */
  readonly also?: Readonly<Record<string, z.ZodType>>;
}

/**
 * What a REST route declares about itself, next to its handler (`{ config: { api } }`): the zod schemas it
 * validates its input with and the schemas of its answers. `GET /openapi.json` is generated from these
 * declarations, collected as Fastify registers each route: nothing is kept by hand.
 */
export interface ApiDoc {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** `bearer`: an access token; `serviceKey`: HTTP Basic with a service key; `none`: no credentials. */
  readonly security: 'none' | 'bearer' | 'serviceKey';
  readonly body?: z.ZodType;
  readonly bodyRequired?: boolean;
  /** @default ['application/json'] */
  readonly bodyMediaTypes?: readonly string[];
  /** The query string, an object of named parameters. */
  readonly query?: z.ZodObject;
  /** The path parameters (each `:name` of the path); a parameter not named here is a string. */
  readonly params?: z.ZodObject;
  /** Request headers the route reads besides Authorization (lower-case names). */
  readonly headers?: z.ZodObject;
  readonly responses: Readonly<Record<number, ApiResponse>>;
  /** The error codes the route answers besides those every route may (RATE_LIMITED, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE). */
  readonly errors?: readonly ErrorCode[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's OpenAPI description (src/http/openapi.ts). */
    api?: ApiDoc;
  }
}

/** A route as Fastify registered it, with its declaration. */
export interface DeclaredRoute {
  readonly method: string;
  readonly url: string;
  readonly api: ApiDoc;
}

type Json = Record<string, unknown>;
const COMMON_ERRORS: readonly ErrorCode[] = ['RATE_LIMITED', 'INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE'];
const SECURITY_ERRORS = { none: [], bearer: ['UNAUTHENTICATED'], serviceKey: ['UNAUTHENTICATED'] } as const satisfies Record<ApiDoc['security'], readonly ErrorCode[]>;

/** RFC 9457 problem details as every route writes them (src/http/problem.ts). */
export const problemSchema = z
  .looseObject({
    type: z.string().describe('A URN naming the problem: urn:latchkey:problem:<code in kebab case>'),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES).describe('Equal to the GraphQL `extensions.code`'),
    instance: z.string().optional(),
    fields: z.record(z.string(), z.string()).optional().describe('BAD_USER_INPUT: each bad field (dotted path) and its message'),
    retryAfter: z.number().optional().describe('RATE_LIMITED, ACCOUNT_LOCKED: seconds until a retry may succeed'),
  })
  .meta({ id: 'Problem' });

const PROBLEM_TYPE = PROBLEM_CONTENT_TYPE.split(';')[0]!;

/** What a route declares its problem bodies carry besides the Problem members (extension members). */
const extraOf = (declared: { content?: Json } | undefined): Json[] => {
  const own = (declared?.content?.[PROBLEM_TYPE] as { schema?: Json } | undefined)?.schema;
  return own ? [own] : [];
};

/** `:id` → `{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** A stable, unique operation id from the method and path: `POST /v1/auth/login/mfa` → `postV1AuthLoginMfa`. */
const operationId = (method: string, url: string) =>
  method.toLowerCase() +
  url
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

/**
 * Builds the OpenAPI 3.1 document of the declared routes. Each zod schema becomes JSON Schema 2020-12 (zod's
 * own `z.toJSONSchema`: inputs as a client sends them, answers as they are serialised); schemas with a
 * `meta({ id })` become shared components.
 */
export function buildOpenApiDocument(
  routes: readonly DeclaredRoute[],
  info: { title: string; version: string; description: string; tags: Readonly<Record<string, string>> },
): Json {
  const components: Record<string, Json> = {};
  const convert = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const { $schema: _drop, $defs, ...root } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json & { $defs?: Record<string, Json> };
    for (const [id, def] of Object.entries($defs ?? {})) {
      const named = rewriteRefs(def) as Json;
      // One name, one shape (give `meta({ id })` to answers' schemas only: an input's may differ, e.g. by defaults).
      if (components[id] && JSON.stringify(components[id]) !== JSON.stringify(named)) throw new Error(`OpenAPI: two different schemas are named ${id}`);
      components[id] = named;
    }
    return rewriteRefs(root) as Json;
  };
  const problemRef = { $ref: '#/components/schemas/Problem' };
  convert(z.object({ p: problemSchema }), 'output');

  const paths: Record<string, Record<string, Json>> = {};
  for (const { method, url, api } of [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method))) {
    const responses: Record<string, Json> = {};
    for (const [status, r] of Object.entries(api.responses)) {
      const content = { ...(r.schema ? { [r.mediaType ?? 'application/json']: r.schema } : {}), ...r.also };
      const entries = Object.entries(content).map(([type, schema]) => [type, { schema: convert(schema, 'output') }]);
      responses[status] = { description: r.description, ...(entries.length > 0 ? { content: Object.fromEntries(entries) } : {}) };
    }
    const codes = [...new Set([...(api.errors ?? []), ...SECURITY_ERRORS[api.security], ...COMMON_ERRORS])];
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of codes) byStatus.set(ERROR_TABLE[code].status, [...(byStatus.get(ERROR_TABLE[code].status) ?? []), code]);
    for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
      const declaredHere = responses[String(status)] as { description: string; content?: Json } | undefined;
      responses[String(status)] = {
        description: [declaredHere?.description, ...list.map((c) => `${c}: ${ERROR_TABLE[c].title}`)].filter(Boolean).join('; '),
        ...(list.includes('RATE_LIMITED') ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } } : {}),
        ...(list.includes('UNAUTHENTICATED') && api.security === 'serviceKey'
          ? { headers: { 'WWW-Authenticate': { description: 'The Basic challenge', schema: { type: 'string' } } } }
          : {}),
        content: { ...declaredHere?.content, [PROBLEM_TYPE]: { schema: { allOf: [problemRef, { properties: { code: { enum: list } } }, ...extraOf(declaredHere)] } } },
      };
    }
    const pathParams = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map(([, name]) => {
      const field = api.params?.shape[name!] as z.ZodType | undefined;
      return { name, in: 'path', required: true, schema: field ? convert(field, 'input') : { type: 'string' } };
    });
    const query = api.query ? (convert(api.query, 'input') as { properties?: Record<string, Json>; required?: string[] }) : undefined;
    const queryParams = Object.entries(query?.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: query?.required?.includes(name) ?? false, schema }));
    const headers = api.headers ? (convert(api.headers, 'input') as { properties?: Record<string, Json>; required?: string[] }) : undefined;
    const headerParams = Object.entries(headers?.properties ?? {}).map(([name, schema]) => ({ name, in: 'header', required: headers?.required?.includes(name) ?? false, schema }));
    const body = api.body ? convert(api.body, 'input') : undefined;
    (paths[openApiPath(url)] ??= {})[method.toLowerCase()] = {
      operationId: operationId(method, url),
      summary: api.summary,
      ...(api.description ? { description: api.description } : {}),
      tags: api.tags,
      security: api.security === 'none' ? [] : [{ [api.security === 'bearer' ? 'bearerAuth' : 'serviceKey']: [] }],
      ...(pathParams.length + queryParams.length + headerParams.length > 0 ? { parameters: [...pathParams, ...queryParams, ...headerParams] } : {}),
      ...(body
        ? { requestBody: { required: api.bodyRequired ?? true, content: Object.fromEntries((api.bodyMediaTypes ?? ['application/json']).map((m) => [m, { schema: body }])) } }
        : {}),
      responses,
    };
  }
  // A tag without a description fails the lint (npm run openapi:lint): say what a new one is for.
  const tags = [...new Set(routes.flatMap((r) => r.api.tags))].sort().map((name) => ({ name, ...(info.tags[name] ? { description: info.tags[name] } : {}) }));
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, description: info.description, license: { name: 'MIT', identifier: 'MIT' } },
    // Relative: the document describes the instance that serves it, whatever its PUBLIC_URL.
    servers: [{ url: '/', description: 'This Latchkey instance' }],
    tags,
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token (ES256 JWT, `typ: at+jwt`) from register, login, refresh or a second-factor sign-in' },
        serviceKey: { type: 'http', scheme: 'basic', description: "A service key's id as the user name and its secret as the password (createServiceKey)" },
      },
    },
  };
}

/** zod names shared definitions `#/$defs/X`; in the document they are `#/components/schemas/X`. */
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(v)]),
  );
}
