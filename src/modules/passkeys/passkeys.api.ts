import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { authPayloadJsonSchema, sessionModeHeadersSchema } from '../sessions/sessions.schema.js';
import { deletePasskeySchema, finishLoginSchema, finishRegistrationSchema, startLoginSchema, startRegistrationSchema } from './passkeys.schema.js';

/** A passkey as the REST routes answer it (`PasskeyView`, serialised). */
const passkeyJsonSchema = z
  .object({ id: z.uuid(), name: z.string().describe('Your label for it'), createdAt: z.iso.datetime(), lastUsedAt: z.iso.datetime().nullable().describe('Its last sign-in') })
  .meta({ id: 'Passkey' });

const challengeJsonSchema = (options: string) =>
  z.object({ challengeId: z.string().describe('Send it back with the credential'), options: z.record(z.string(), z.unknown()).describe(options) });

/** OpenAPI declarations of the passkey routes (src/http/openapi.ts). */
export const PASSKEYS_API = {
  loginOptions: {
    summary: 'Start a passkey sign-in (with an identifier, only its passkeys are allowed; without, a discoverable one)',
    tags: ['sign-in'],
    security: 'none',
    body: startLoginSchema,
    bodyRequired: false,
    responses: { 200: { description: 'Valid 5 minutes, once (GraphQL twin: startPasskeyLogin)', schema: challengeJsonSchema('PublicKeyCredentialRequestOptionsJSON') } },
    errors: ['BAD_USER_INPUT'],
  },
  login: {
    summary: 'Finish a passkey sign-in with the assertion (AuthenticationResponseJSON)',
    tags: ['sign-in'],
    security: 'none',
    headers: sessionModeHeadersSchema,
    body: finishLoginSchema,
    responses: { 200: { description: 'Signed in (GraphQL twin: finishPasskeyLogin)', schema: authPayloadJsonSchema } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'INVALID_CREDENTIALS', 'ACCOUNT_DISABLED', 'ACCOUNT_LOCKED'],
  },
  list: {
    summary: "The caller's passkeys",
    tags: ['passkeys'],
    security: 'bearer',
    responses: { 200: { description: 'GraphQL twin: passkeys', schema: z.object({ passkeys: z.array(passkeyJsonSchema) }) } },
  },
  registrationOptions: {
    summary: 'Start adding a passkey: needs a recent sign-in, and a current code when two-factor sign-in is on',
    tags: ['passkeys'],
    security: 'bearer',
    body: startRegistrationSchema,
    bodyRequired: false,
    responses: { 200: { description: 'Valid 5 minutes, once (GraphQL twin: startPasskeyRegistration)', schema: challengeJsonSchema('PublicKeyCredentialCreationOptionsJSON') } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'REAUTHENTICATION_REQUIRED', 'ACCOUNT_LOCKED'],
  },
  register: {
    summary: 'Finish adding a passkey with the created credential (RegistrationResponseJSON)',
    tags: ['passkeys'],
    security: 'bearer',
    body: finishRegistrationSchema,
    responses: { 201: { description: 'Added (GraphQL twin: finishPasskeyRegistration)', schema: passkeyJsonSchema } },
    errors: ['BAD_USER_INPUT', 'INVALID_TOKEN', 'REAUTHENTICATION_REQUIRED'],
  },
  remove: {
    summary: 'Remove one of the caller\'s passkeys',
    tags: ['passkeys'],
    security: 'bearer',
    params: deletePasskeySchema,
    responses: { 204: { description: 'Removed (GraphQL twin: deletePasskey)' } },
    errors: ['BAD_USER_INPUT', 'NOT_FOUND'],
  },
} as const satisfies Record<string, ApiDoc>;
