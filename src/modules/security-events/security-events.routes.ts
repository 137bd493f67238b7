import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { parseInput } from '../../infra/validation.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import { SecurityEvent } from './security-events.inputs.js';
import { eventPageJsonSchema, markReadSchema, pageQuerySchema } from './security-events.schema.js';
import type { SecurityEventsService } from './security-events.service.js';

/** REST door of the caller's security events (`securityEvents`, `markSecurityEventsRead`), over the same service as GraphQL. */
export function securityEventsRoutes(events: SecurityEventsService, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.get('/security-events', { config: { api: API.page } }, async (req) => {
      const principal = await auth.request(req);
      const { first, after } = parseInput(pageQuerySchema, req.query ?? {});
      const page = await events.page(principal, { first: first ?? 20, after: after ?? null });
      return { events: page.edges.map((e) => SecurityEvent.from(e.node)), pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor } };
    });
    app.post('/security-events/read', { config: { api: API.markRead } }, async (req) => {
      const principal = await auth.request(req);
      return { marked: await events.markRead(principal, parseInput(markReadSchema, req.body ?? {}).ids) };
    });
  };
}

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  page: {
    summary: "The caller's security events, newest first, a page at a time",
    tags: ['security-events'],
    security: 'bearer',
    query: pageQuerySchema,
    responses: { 200: { description: 'pageInfo.endCursor is the next page\'s after (GraphQL twin: securityEvents)', schema: eventPageJsonSchema } },
    errors: ['BAD_USER_INPUT'],
  },
  markRead: {
    summary: "Mark some of the caller's events read",
    tags: ['security-events'],
    security: 'bearer',
    body: markReadSchema,
    responses: { 200: { description: 'How many changed (GraphQL twin: markSecurityEventsRead)', schema: z.object({ marked: z.int() }) } },
    errors: ['BAD_USER_INPUT'],
  },
} as const satisfies Record<string, ApiDoc>;
