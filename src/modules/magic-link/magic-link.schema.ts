import { z } from 'zod';
import { emailField } from '../identity/identifiers.js';

export const magicLinkRequestSchema = z.strictObject({ email: emailField });
