/**
 * Every audit action (docs/api.md, "Audit log"): public names operators filter and alert on. Do not
 * rename; add new ones at the end of their group.
 */
export const AUDIT_ACTIONS = [
  'user.registered',
  'user.signed_in',
  'user.sign_in_failed',
  'user.signed_out',
  'session.revoked',
  'session.refresh_token_reused',
  'user.password_changed',
  'user.password_reset_requested',
  'user.password_reset',
  'user.email_verified',
  'user.mfa_enabled',
  'user.mfa_disabled',
  'user.locked',
  'user.unlocked',
  'user.deleted',
  'user.sign_in_denied',
  'user.passkey_added',
  'user.passkey_removed',
  /** A proof of the owner on a live session (reauthenticate): outcome SUCCESS or FAILURE. */
  'user.reauthenticated',
  'admin.user_disabled',
  'admin.user_enabled',
  'admin.user_deleted',
  'admin.sessions_revoked',
  'admin.mfa_reset',
  'admin.role_changed',
  'admin.user_unlocked',
  'webhook.endpoint_created',
  'webhook.endpoint_deleted',
  /** An operator changed an endpoint's URL, filter, description or state (`details.changed` names the fields). */
  'webhook.endpoint_updated',
  /** An operator rotated an endpoint's signing secret (the old one signs for 24 more hours). */
  'webhook.secret_rotated',
  /** The system disabled an endpoint (`details.reason`: `gone` after a 410, `failing` after days of failures). */
  'webhook.endpoint_disabled',
  'service_key.created',
  'service_key.revoked',
  'security.alert',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Whether a string names an audit action (filters accept only these). */
export const isAuditAction = (s: string): s is AuditAction => (AUDIT_ACTIONS as readonly string[]).includes(s);

/** Why a sign-in failed (`details.reason` of `user.sign_in_failed`). */
export type SignInFailure = 'invalid_credentials' | 'locked' | 'disabled' | 'rate_limited' | 'mfa_failed';
