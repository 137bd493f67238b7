import { z } from 'zod';
import { userJsonSchema } from '../identity/identity.schema.js';

const refreshToken = z.string().trim().min(1, 'is required').max(512, 'is too long');
export const refreshSchema = z.strictObject({ refreshToken });
/** REST body of a refresh: the token, or nothing in cookie mode (the cookie carries it). */
export const refreshBodySchema = z.strictObject({ refreshToken: refreshToken.optional() });
export const logoutSchema = z.strictObject({ allSessions: z.boolean().default(false) });
export const sessionIdSchema = z.strictObject({ id: z.uuid({ message: 'must be a session id' }) });

// Answers of the REST doors as sent on the wire (the OpenAPI document is generated from these).

/** A session as `sessions` answers it. */
export const sessionJsonSchema = z
  .object({
    id: z.uuid().describe("The access token's `sid`"),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    current: z.boolean().describe('The session making this request'),
  })
  .meta({ id: 'Session' });

/** Tokens for a new or refreshed session (`authPayloadJson`). */
export const authPayloadJsonSchema = z
  .object({
    accessToken: z.string().describe('ES256 JWT; send as `Authorization: Bearer <token>`'),
    refreshToken: z.string().optional().describe('Opaque and single use; absent in cookie mode, where the session cookie carries it'),
    tokenType: z.literal('Bearer'),
    expiresIn: z.int().describe('Seconds until the access token expires'),
    user: userJsonSchema,
  })
  .meta({ id: 'AuthPayload' });

/** A sign-in that needs its second step (`POST /auth/login/mfa`). */
export const mfaRequiredJsonSchema = z
  .object({ mfaRequired: z.literal(true), mfaToken: z.string(), methods: z.array(z.enum(['TOTP', 'RECOVERY_CODE'])) })
  .meta({ id: 'MfaRequired' });

/** `POST /auth/sessions/{id}/revoke`, `.../revoke-others` and the like: how many sessions ended. */
export const revokedCountSchema = z.object({ revoked: z.int() });

/** The opt-in to cookie mode (docs/api.md, "Browser sessions"): on every call that issues or uses a session. */
export const sessionModeHeadersSchema = z.object({
  'x-latchkey-session': z
    .literal('cookie')
    .optional()
    .describe('`cookie`: the refresh token travels in an HttpOnly session cookie, not in JSON; required on refresh and logout that use the cookie (the CSRF defence)'),
});
