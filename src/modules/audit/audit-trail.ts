import { createHmac } from 'node:crypto';
import type { RequestMeta } from '../../core/request.js';
import type { KeyRing } from '../../infra/crypto/secrets.js';
import { normalizeIdentifier } from '../identity/identifiers.js';
import type { SignInFailure } from './audit-actions.js';
import type { JsonValue } from './audit-entry.js';
import type { AuditRepository, NewAuditEntry } from './audit.repository.js';

/** A refused sign-in as the audit log describes it. */
export interface SignInFailureInput {
  reason: SignInFailure;
  /** The account concerned, when the identifier named one. */
  userId?: string | null;
  /** What was typed: stored only as a keyed hash. */
  identifier?: string;
  details?: Record<string, JsonValue>;
}

/**
 * What other features need of the audit log beyond `recordAudit` in their own transactions: entries of
 * actions that wrote nothing else (a refused sign-in: its own INSERT), and the keyed hash that stands
 * for a submitted identifier (HMAC-SHA-256 under a key derived from APP_SECRET, `<key id>.<mac>`): the
 * same identifier gives the same hash, so an operator can count and correlate, but the log never
 * holds what someone typed, and a copy of the database alone cannot test a guess.
 */
export class AuditTrail {
  constructor(private readonly deps: { repo: Pick<AuditRepository, 'record'>; identifierKey: KeyRing }) {}

  record(meta: RequestMeta | null, entries: readonly NewAuditEntry[]): Promise<void> {
    return this.deps.repo.record(meta, entries);
  }

  identifierHash(identifier: string): string {
    const { id, key } = this.deps.identifierKey.current;
    const mac = createHmac('sha256', key).update(normalizeIdentifier(identifier.slice(0, 1024))).digest('base64url');
    return `${id}.${mac}`;
  }

  /** The `user.sign_in_failed` entry of a refusal; the actor is unknown (null) whatever was typed. */
  signInFailure(f: SignInFailureInput): NewAuditEntry {
    return {
      action: 'user.sign_in_failed',
      outcome: 'FAILURE',
      actorId: null,
      targetUserId: f.userId ?? null,
      details: { reason: f.reason, ...(f.identifier !== undefined ? { identifierHash: this.identifierHash(f.identifier) } : {}), ...f.details },
    };
  }

  /** Records a refused sign-in with its own INSERT (nothing else was written). */
  signInFailed(meta: RequestMeta, f: SignInFailureInput): Promise<void> {
    return this.record(meta, [this.signInFailure(f)]);
  }
}
