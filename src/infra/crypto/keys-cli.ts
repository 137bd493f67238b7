import { generateSigningJwk } from './keys.js';

/**
 * Prints a JWK set for JWT_PRIVATE_KEYS. To rotate: generate a key, put it FIRST in the existing set
 * (it signs from then on), keep the old one listed until the last token it signed has expired, then drop it.
 */
const count = Number(process.argv[2] ?? 1);
const keys = [];
for (let i = 0; i < count; i++) keys.push(await generateSigningJwk());
process.stdout.write(`${JSON.stringify({ keys })}\n`);
