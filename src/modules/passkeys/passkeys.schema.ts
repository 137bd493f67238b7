import { z } from 'zod';
import { text } from '../../infra/validation.js';
import { loginSchema } from '../accounts/accounts.schema.js';

/** base64url, bounded: every binary field of a WebAuthn response JSON. */
const b64url = (max: number) => z.string().max(max, 'is too long').regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

/** The transports a browser may report; anything else is dropped (they are stored and echoed back as hints). */
export const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;
const transports = z
  .array(z.string().max(32))
  .max(16)
  .transform((ts) => [...new Set(ts)].filter((t): t is (typeof TRANSPORTS)[number] => (TRANSPORTS as readonly string[]).includes(t)));

const credentialBase = {
  id: b64url(1024).min(1, 'is required'),
  rawId: b64url(1024).min(1, 'is required'),
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};

/** A RegistrationResponseJSON (WebAuthn Level 3 `toJSON()` of the created credential); the library checks the rest. */
export const registrationResponse = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: b64url(8192).min(1),
    attestationObject: b64url(65536).min(1),
    transports: transports.optional(),
    authenticatorData: b64url(65536).optional(),
    publicKey: b64url(8192).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
});

/** An AuthenticationResponseJSON (the asserted credential's `toJSON()`). */
export const authenticationResponse = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: b64url(8192).min(1),
    authenticatorData: b64url(65536).min(1),
    signature: b64url(4096).min(1),
    userHandle: b64url(1024).optional(),
  }),
});

const challengeId = z.string().trim().min(1, 'is required').max(128, 'is too long');

export const startRegistrationSchema = z.strictObject({ code: z.string().max(64).nullish() });
export const finishRegistrationSchema = z.strictObject({
  challengeId,
  response: registrationResponse,
  name: text(64).nullish().transform((n) => (n ? n : null)),
});
export const deletePasskeySchema = z.strictObject({ id: z.uuid('must be a passkey id') });
export const startLoginSchema = z.strictObject({ identifier: loginSchema.shape.identifier.nullish() });
export const finishLoginSchema = z.strictObject({ challengeId, response: authenticationResponse });
