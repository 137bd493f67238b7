import { z } from 'zod';

export const pageSchema = z.strictObject({
  first: z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'),
  after: z.string().max(200).optional(),
});
export const markReadSchema = z.strictObject({
  ids: z.array(z.uuid({ message: 'must be event ids' })).max(500, 'at most 500 ids at once'),
});
