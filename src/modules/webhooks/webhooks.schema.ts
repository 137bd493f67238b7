import { z } from 'zod';
import { text } from '../../infra/validation.js';
import { WEBHOOK_EVENT_TYPES } from './webhook-events.js';

const id = z.uuid('must be an id this API gave out');
const url = z.string().trim().min(1, 'is required').max(2048, 'must be at most 2048 characters');
/** An event filter: distinct known types; empty means every type. */
const events = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, 'must name webhook event types'), 'must be a list of event types')
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((list) => new Set(list).size === list.length, 'must not name a type twice');

export const createEndpointSchema = z.strictObject({ url, events, description: text(500).optional() });
export const updateEndpointSchema = z.strictObject({
  id,
  url: url.optional(),
  events: events.optional(),
  description: text(500).nullable().optional(),
  enabled: z.boolean().optional(),
});
export const endpointIdSchema = z.strictObject({ id });
export const deliveryIdSchema = z.strictObject({ deliveryId: id });
export const deliveriesSchema = z.strictObject({
  endpointId: id,
  first: z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'),
  after: z.string().max(200).optional(),
});
