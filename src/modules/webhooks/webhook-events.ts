import { createHmac, randomBytes } from 'node:crypto';
import type { StoredAuditEntry } from '../audit/audit-entry.js';

/** Every webhook event type (docs/api.md, "Webhooks"): public names receivers switch on. Do not rename. */
export const WEBHOOK_EVENT_TYPES = [
  'user.created',
  'user.email_verified',
  'user.password_changed',
  'user.password_reset',
  'user.mfa_enabled',
  'user.mfa_disabled',
  'user.locked',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'user.role_changed',
  'session.created',
  'session.revoked',
  'session.refresh_token_reused',
  'security.alert',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (s: string): s is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s);

/**
 * The audit actions that are webhook events. The audit log is written in the transaction of every change,
 * and the sealer hands each committed entry on exactly once: so an event exists exactly when its change
 * committed. Ending many sessions at once (an operator's revoke, a disable) writes one `session.revoked`
 * entry per session, so the summary entries (`admin.sessions_revoked`) are not events of their own.
 */
const EVENT_OF: Readonly<Record<string, WebhookEventType>> = {
  'user.registered': 'user.created',
  'user.email_verified': 'user.email_verified',
  'user.password_changed': 'user.password_changed',
  'user.password_reset': 'user.password_reset',
  'user.mfa_enabled': 'user.mfa_enabled',
  'user.mfa_disabled': 'user.mfa_disabled',
  'admin.mfa_reset': 'user.mfa_disabled',
  'user.locked': 'user.locked',
  'admin.user_disabled': 'user.disabled',
  'admin.user_enabled': 'user.enabled',
  'user.deleted': 'user.deleted',
  'admin.user_deleted': 'user.deleted',
  'admin.role_changed': 'user.role_changed',
  'user.signed_in': 'session.created',
  'user.signed_out': 'session.revoked',
  'session.revoked': 'session.revoked',
  'session.refresh_token_reused': 'session.refresh_token_reused',
  'security.alert': 'security.alert',
};

/** A webhook event: its type, when it happened and what it says (never a secret). */
export interface WebhookEvent {
  type: WebhookEventType;
  occurredAt: Date;
  data: Record<string, unknown>;
}

const pick = (details: unknown, keys: readonly string[]): Record<string, unknown> => {
  if (!details || typeof details !== 'object') return {};
  const d = details as Record<string, unknown>;
  return Object.fromEntries(keys.filter((k) => d[k] !== undefined).map((k) => [k, d[k]]));
};

/**
 * The event an audit entry stands for, or null. `data` holds the account's id and, where they exist, the
 * session, address and client of the request, plus a few named details (never the free text of an entry).
 */
export function eventOf(entry: StoredAuditEntry): WebhookEvent | null {
  if (entry.outcome !== 'SUCCESS') return null;
  const type = EVENT_OF[entry.action];
  if (!type) return null;
  const data: Record<string, unknown> = {};
  if (entry.targetUserId) data.userId = entry.targetUserId;
  if (entry.sessionId) data.sessionId = entry.sessionId;
  if (entry.ip) data.ip = entry.ip;
  if (entry.userAgent) data.userAgent = entry.userAgent;
  if (entry.actorId && entry.actorId !== entry.targetUserId) data.actorId = entry.actorId;
  if (type === 'user.role_changed') Object.assign(data, pick(entry.details, ['from', 'to']));
  if (type === 'session.revoked') Object.assign(data, pick(entry.details, ['reason']));
  if (type === 'security.alert') Object.assign(data, pick(entry.details, ['rule', 'ip', 'count', 'window']));
  return { type, occurredAt: entry.occurredAt, data };
}

/** The body every attempt of a message sends: `{"type","timestamp","data"}` (Standard Webhooks). */
export const bodyOf = (e: WebhookEvent): string => JSON.stringify({ type: e.type, timestamp: e.occurredAt.toISOString(), data: e.data });

/** A message id (`webhook-id`): the receiver's idempotency key, the same on every retry and redelivery. */
export const newMessageId = (): string => `msg_${randomBytes(16).toString('base64url')}`;

/** A signing secret as Standard Webhooks writes them: `whsec_` and 32 random bytes in base64. */
export const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under each secret (the key is the
 * base64 after `whsec_`), space-separated when more than one signs (during a rotation's overlap).
 */
export function signatureOf(secrets: readonly string[], messageId: string, timestamp: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
      return `v1,${createHmac('sha256', key).update(`${messageId}.${timestamp}.${body}`).digest('base64')}`;
    })
    .join(' ');
}
