import { z } from 'zod';
import { AppError } from './errors.js';

/**
 * The one validation step of both doors: parses with a zod schema or throws `BAD_USER_INPUT` whose
 * `fields` map each bad field (dotted path) to its first message. Unknown fields are refused by the
 * schemas themselves (`z.strictObject`).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const key = issue.path.length > 0 ? issue.path.join('.') : '_';
    fields[key] ??= issue.message;
  }
  throw new AppError('BAD_USER_INPUT', 'Some fields are invalid', { fields });
}

/** A trimmed string with a length cap, so no unbounded input reaches a service. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in its canonical text form (any version, either case): ids a caller sends or a job names. */
export const isUuid = (s: string): boolean => UUID.test(s);

export const text = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);
