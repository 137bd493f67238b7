import type { RequestMeta } from '../../core/request.js';
import type { LimitName } from '../../infra/config.js';
import type { SignUpOutcome } from '../../infra/metrics.js';

export type { SignUpOutcome };

/**
 * What the flows report where a security-relevant event happens: the metrics of docs/api.md "Alerts" count
 * them, and the built-in alert rules watch them. `AlertsService` implements it. No method throws (a failure
 * to count is logged, never answered), and nothing here is called on a successful sign-in: only failures
 * pay for the counting.
 */
export interface SecuritySignals {
  /**
   * A sign-in refused: wrong password or unknown identifier, locked or disabled account (`identifier`: the
   * normalised identifier submitted, watched by `credential_stuffing`), or a wrong second-factor code
   * (`identifier`: null).
   */
  signInFailed(identifier: string | null, meta: RequestMeta): Promise<void>;
  /** What a sign-up came to; the refusals (every outcome but `created` and `error`) are watched by `signup_burst`. */
  signUp(outcome: SignUpOutcome, meta: RequestMeta): Promise<void>;
  /** An attempt a rate limit refused (`meta`: the request's, when the door passed it). */
  rateLimited(name: LimitName, meta: RequestMeta | undefined): Promise<void>;
  /** A new lock of an account after repeated failures. */
  lockedOut(): void;
  /** A refresh token replayed (its session was revoked). */
  refreshTokenReused(): void;
}
