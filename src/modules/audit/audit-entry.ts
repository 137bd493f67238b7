import type { AuditOutcome } from '../../infra/db/enums.js';
import { ocsfOf, type OcsfClassification } from './audit-ocsf.js';

/** A JSON value, as `details` holds them. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** An audit entry as stored. `details` is JSON (never a password, token, code or secret). */
export interface StoredAuditEntry {
  id: string;
  occurredAt: Date;
  action: string;
  outcome: AuditOutcome;
  actorId: string | null;
  targetUserId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: unknown;
}

/** Where an entry sits in the hash chain, once sealed. */
export interface SealRef {
  seq: bigint;
  /** The seal's HMAC, hex. */
  hash: string;
}

/**
 * One entry as the NDJSON export and the `"audit": true` log line write it: flat snake_case names a SIEM
 * maps without guessing (`src_ip`, `actor_user_id`, `target_user_id`), the time as ISO 8601 UTC, and the
 * OCSF class and activity already worked out (docs/audit.md explains each field).
 */
export interface SiemRecord {
  id: string;
  occurred_at: string;
  action: string;
  outcome: 'success' | 'failure';
  actor_user_id: string | null;
  target_user_id: string | null;
  session_id: string | null;
  src_ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: unknown;
  ocsf: OcsfClassification;
  seal?: { seq: string; hash: string };
}

export function toSiemRecord(e: StoredAuditEntry, seal?: SealRef): SiemRecord {
  return {
    id: e.id,
    occurred_at: e.occurredAt.toISOString(),
    action: e.action,
    outcome: e.outcome === 'SUCCESS' ? 'success' : 'failure',
    actor_user_id: e.actorId,
    target_user_id: e.targetUserId,
    session_id: e.sessionId,
    src_ip: e.ip,
    user_agent: e.userAgent,
    request_id: e.requestId,
    details: e.details ?? null,
    ocsf: ocsfOf(e.action, e.outcome),
    ...(seal ? { seal: { seq: seal.seq.toString(), hash: seal.hash } } : {}),
  };
}

/** An entry as the live feed carries it across instances (Redis pub/sub): JSON-safe. */
export type AuditTopicPayload = Omit<StoredAuditEntry, 'occurredAt'> & { occurredAt: string };

export const toTopicPayload = (e: StoredAuditEntry): AuditTopicPayload => ({ ...e, occurredAt: e.occurredAt.toISOString() });
