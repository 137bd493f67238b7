import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { httpExchange } from '../../http/exchange.js';
import type { ApiDoc } from '../../http/openapi.js';
import { requestMeta } from '../../http/request-meta.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import type { SessionCookies } from '../sessions/session-cookie.guard.js';
import { authPayloadJsonSchema, sessionModeHeadersSchema } from '../sessions/sessions.schema.js';
import { codeSchema, completeMfaSchema } from './mfa.schema.js';
import type { MfaService } from './mfa.service.js';

/** REST door of two-factor sign-in (docs/api.md, "REST routes"): the login's second step and TOTP enrollment. */
export function mfaRoutes(mfa: MfaService, cookies: SessionCookies, auth: AuthGuard): FastifyPluginAsync {
  return async (app) => {
    app.post('/login/mfa', { config: { api: API.completeLogin } }, async (req, reply) => cookies.json(httpExchange(req, reply), () => mfa.completeLogin(req.body, requestMeta(req))));
    app.post('/mfa/totp/enroll', { config: { api: API.enroll } }, async (req) => mfa.startEnrollment(await auth.request(req)));
    app.post('/mfa/totp/confirm', { config: { api: API.confirm } }, async (req) => ({ recoveryCodes: await mfa.confirmEnrollment(await auth.request(req), req.body, requestMeta(req)) }));
    app.post('/mfa/totp/disable', { config: { api: API.disable } }, async (req, reply) => {
      await mfa.disable(await auth.request(req), req.body, requestMeta(req));
      return reply.code(204).send();
    });
  };
}

/** OpenAPI declarations of these routes (src/http/openapi.ts). */
const API = {
  completeLogin: {
    summary: 'Finish a sign-in that answered mfaRequired, with a TOTP or recovery code',
    tags: ['sign-in'],
    security: 'none',
    headers: sessionModeHeadersSchema,
    body: completeMfaSchema,
    responses: { 200: { description: 'Signed in (GraphQL twin: completeMfaLogin)', schema: authPayloadJsonSchema } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'ACCOUNT_DISABLED', 'ACCOUNT_LOCKED'],
  },
  enroll: {
    summary: 'Begin TOTP enrollment (nothing is on until confirmed); needs a verified email and a recent sign-in',
    tags: ['two-factor'],
    security: 'bearer',
    responses: {
      200: {
        description: 'The secret to enter in an authenticator app (GraphQL twin: startTotpEnrollment)',
        schema: z.object({ secret: z.string().describe('Base32, for manual entry'), otpauthUrl: z.string(), qrCodeSvg: z.string().describe('The otpauth URL as an SVG QR code') }),
      },
    },
    errors: ['REAUTHENTICATION_REQUIRED', 'FORBIDDEN', 'BAD_USER_INPUT'],
  },
  confirm: {
    summary: 'Turn TOTP on with a current code; answers the recovery codes, shown once',
    tags: ['two-factor'],
    security: 'bearer',
    body: codeSchema,
    responses: { 200: { description: 'GraphQL twin: confirmTotpEnrollment', schema: z.object({ recoveryCodes: z.array(z.string()) }) } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'REAUTHENTICATION_REQUIRED'],
  },
  disable: {
    summary: 'Turn TOTP off with a current TOTP or recovery code; needs a recent sign-in',
    tags: ['two-factor'],
    security: 'bearer',
    body: codeSchema,
    responses: { 204: { description: 'Off (GraphQL twin: disableTotp)' } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'REAUTHENTICATION_REQUIRED'],
  },
} as const satisfies Record<string, ApiDoc>;
