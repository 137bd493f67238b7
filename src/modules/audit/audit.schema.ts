import { z } from 'zod';
import { isAuditAction } from './audit-actions.js';

const action = z.string().max(64).refine(isAuditAction, 'is not an audit action');
/** An address as stored (IPv4 or IPv6 text), matched exactly. */
const ip = z.string().trim().min(1).max(64);
const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).transform((s) => new Date(s));

const bounded = <T extends { since?: Date; until?: Date }>(f: T) => !f.since || !f.until || f.since < f.until;

/** The filter of `auditLog`: each field narrows; `since` inclusive, `until` exclusive. */
export const auditFilterSchema = z
  .strictObject({
    action: action.optional(),
    actorId: z.uuid({ message: 'must be a user id' }).optional(),
    targetUserId: z.uuid({ message: 'must be a user id' }).optional(),
    ip: ip.optional(),
    outcome: z.enum(['SUCCESS', 'FAILURE']).optional(),
    since: z.date().optional(),
    until: z.date().optional(),
  })
  .refine(bounded, { message: 'must be before until', path: ['since'] });

export const auditPageSchema = z.strictObject({
  filter: auditFilterSchema,
  first: z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200'),
  after: z.string().max(200).optional(),
});

/** `GET /v1/admin/audit-log?since=&until=&action=` (query strings). */
export const auditExportSchema = z
  .strictObject({
    since: instant.optional(),
    until: instant.optional(),
    action: action.optional(),
  })
  .refine(bounded, { message: 'must be before until', path: ['since'] });
