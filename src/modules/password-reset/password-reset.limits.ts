import { fieldOf, submitted, type LimitDeclaration } from '../../infra/limit-spec.js';

/** A reset request (input: `{ email }`): per submitted address, known or not, so the answer tells nothing. */
export const resetRequestLimit: LimitDeclaration = (input) => [['resetRequest', [submitted(fieldOf(input, 'email'))]]];
