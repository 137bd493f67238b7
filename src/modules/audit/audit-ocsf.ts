import type { AuditOutcome } from '../../infra/db/enums.js';
import type { AuditAction } from './audit-actions.js';

/**
 * Each audit action as an OCSF event (docs/audit.md): its class and activity, so a SIEM files an entry
 * without a lookup table of its own. `type_uid` is `class_uid * 100 + activity_id`, as OCSF defines it.
 */
export interface OcsfClassification {
  readonly category_uid: number;
  readonly class_uid: number;
  readonly class_name: string;
  readonly activity_id: number;
  readonly activity_name: string;
  readonly type_uid: number;
  /** 1 Success, 2 Failure. */
  readonly status_id: 1 | 2;
  readonly status: 'Success' | 'Failure';
}

const CLASSES = {
  3001: 'Account Change',
  3002: 'Authentication',
  3004: 'Entity Management',
  3005: 'User Access Management',
  2004: 'Detection Finding',
} as const;
type ClassUid = keyof typeof CLASSES;

const ACTIVITIES: Record<ClassUid, Record<number, string>> = {
  3001: { 1: 'Create', 2: 'Enable', 3: 'Password Change', 4: 'Password Reset', 5: 'Disable', 6: 'Delete', 9: 'Lock', 10: 'MFA Factor Enable', 11: 'MFA Factor Disable', 12: 'Unlock', 99: 'Other' },
  3002: { 1: 'Logon', 2: 'Logoff', 99: 'Other' },
  3004: { 1: 'Create', 3: 'Update', 4: 'Delete' },
  3005: { 1: 'Assign Privileges' },
  2004: { 1: 'Create' },
};

/** The one table: a new action fails the build until it is mapped here (and in docs/audit.md). */
const MAPPING: Record<AuditAction, readonly [ClassUid, number]> = {
  'user.registered': [3001, 1],
  'user.signed_in': [3002, 1],
  'user.sign_in_failed': [3002, 1],
  'user.signed_out': [3002, 2],
  'session.revoked': [3002, 2],
  'session.refresh_token_reused': [2004, 1],
  'user.password_changed': [3001, 3],
  'user.password_reset_requested': [3001, 99],
  'user.password_reset': [3001, 4],
  'user.email_verified': [3001, 99],
  'user.mfa_enabled': [3001, 10],
  'user.mfa_disabled': [3001, 11],
  'user.locked': [3001, 9],
  'user.unlocked': [3001, 12],
  'user.deleted': [3001, 6],
  'user.sign_in_denied': [3002, 2],
  'user.passkey_added': [3001, 10],
  'user.passkey_removed': [3001, 11],
  'user.reauthenticated': [3002, 99],
  'admin.user_disabled': [3001, 5],
  'admin.user_enabled': [3001, 2],
  'admin.user_deleted': [3001, 6],
  'admin.sessions_revoked': [3002, 2],
  'admin.mfa_reset': [3001, 11],
  'admin.role_changed': [3005, 1],
  'admin.user_unlocked': [3001, 12],
  'webhook.endpoint_created': [3004, 1],
  'webhook.endpoint_deleted': [3004, 4],
  'webhook.endpoint_updated': [3004, 3],
  'webhook.secret_rotated': [3004, 3],
  'webhook.endpoint_disabled': [3004, 3],
  'service_key.created': [3004, 1],
  'service_key.revoked': [3004, 4],
  'security.alert': [2004, 1],
};

/** The OCSF classification of an entry (an action this version does not know maps to Account Change, Other). */
export function ocsfOf(action: string, outcome: AuditOutcome): OcsfClassification {
  const [classUid, activityId] = MAPPING[action as AuditAction] ?? ([3001, 99] as const);
  return {
    category_uid: Math.floor(classUid / 1000),
    class_uid: classUid,
    class_name: CLASSES[classUid],
    activity_id: activityId,
    activity_name: ACTIVITIES[classUid][activityId] ?? 'Other',
    type_uid: classUid * 100 + activityId,
    status_id: outcome === 'SUCCESS' ? 1 : 2,
    status: outcome === 'SUCCESS' ? 'Success' : 'Failure',
  };
}
