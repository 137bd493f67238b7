import { fieldOf, submitted, type LimitDeclaration } from '../../infra/limit-spec.js';

/** A magic-link request (input: `{ email }`): per submitted address, known or not, so the answer tells nothing. */
export const magicLinkRequestLimit: LimitDeclaration = (input) => [['magicLinkRequest', [submitted(fieldOf(input, 'email'))]]];
