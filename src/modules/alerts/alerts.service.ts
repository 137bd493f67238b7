import { createHmac, randomBytes } from 'node:crypto';
import type { RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import { clientNetwork } from '../../infra/client-network.js';
import type { AlertRuleName, Config, LimitName } from '../../infra/config.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { AlertWindows, Observation } from './alert-windows.js';
import type { AlertsRepository } from './alerts.repository.js';
import type { SecuritySignals, SignUpOutcome } from './security-signals.js';

/** What a fired rule reports: the `details` of its `security.alert` audit entry. */
export interface SecurityAlert {
  readonly rule: AlertRuleName;
  /** The client network counted: an IPv4 address, or an IPv6 network such as `2001:db8:1:2::/64`. */
  readonly ip: string;
  /** Events seen within the window when it fired (distinct identifiers for `credential_stuffing`). */
  readonly count: number;
  /** The window's length, seconds. */
  readonly window: number;
}

/**
 * Work committed with an alert's audit entry, in its transaction: the `security.alert` webhook queues its
 * delivery here (through the outbox), so an alert is delivered if and only if it is recorded.
 */
export type AlertListener = (tx: Tx, alert: SecurityAlert, meta: RequestMeta) => Promise<void>;

export interface AlertsDeps {
  windows: Pick<AlertWindows, 'observe' | 'rearm'>;
  repo: AlertsRepository;
  metrics: Pick<Metrics, 'loginFailures' | 'signups' | 'rateLimited' | 'lockouts' | 'refreshReuse' | 'securityAlerts'>;
  /** ALERT_* thresholds; a rule set to `off` is null. */
  rules: Config['alerts'];
  /** Keys the identifiers `credential_stuffing` counts (`AppSecrets.ring('alert-mac')`), so Redis never holds one in clear. */
  identifierKey: Buffer;
  /** The network an IPv6 client is counted by (RATE_LIMIT_IPV6_PREFIX), as the per-IP limits do. */
  ipv6Prefix: number;
  log: Logger;
}

/** The sign-up outcomes that are refusals: what `signup_burst` counts. A server fault (`error`) is not the client's doing. */
const REFUSED_SIGNUPS: ReadonlySet<SignUpOutcome> = new Set(['invalid', 'weak_password', 'taken', 'rate_limited']);

/**
 * The security metrics and the built-in alert rules (docs/api.md, "Alerts"): `credential_stuffing` (failed
 * sign-ins for many distinct identifiers from one network) and `signup_burst` (many refused sign-ups from
 * one network). A rule fires once per network and window across instances; firing writes a `security.alert`
 * audit entry (the system acting: no actor, no target), runs the listeners in its transaction, and counts
 * `latchkey_security_alerts_total{rule}`. Nothing here ever fails the request that reported the event.
 */
export class AlertsService implements SecuritySignals {
  private readonly listeners: AlertListener[] = [];

  constructor(private readonly deps: AlertsDeps) {}

  /** Adds work to commit with every alert's audit entry (the hook of the `security.alert` webhook). */
  onAlert(listener: AlertListener): void {
    this.listeners.push(listener);
  }

  async signInFailed(identifier: string | null, meta: RequestMeta): Promise<void> {
    this.deps.metrics.loginFailures.inc();
    if (identifier === null) return;
    // Distinct identifiers: the same one retried is one member (a user mistyping, not a list being tried).
    const member = createHmac('sha256', this.deps.identifierKey).update(identifier).digest('base64url').slice(0, 22);
    await this.observe('credential_stuffing', member, meta);
  }

  async signUp(outcome: SignUpOutcome, meta: RequestMeta): Promise<void> {
    this.deps.metrics.signups.inc({ outcome });
    // Every refusal counts, so each gets a member of its own.
    if (REFUSED_SIGNUPS.has(outcome)) await this.observe('signup_burst', randomBytes(12).toString('base64url'), meta);
  }

  async rateLimited(name: LimitName, meta: RequestMeta | undefined): Promise<void> {
    this.deps.metrics.rateLimited.inc({ limit: name });
    if (name !== 'register') return;
    if (meta) await this.signUp('rate_limited', meta);
    else this.deps.metrics.signups.inc({ outcome: 'rate_limited' });
  }

  lockedOut(): void {
    this.deps.metrics.lockouts.inc();
  }

  refreshTokenReused(): void {
    this.deps.metrics.refreshReuse.inc();
  }

  private async observe(rule: AlertRuleName, member: string, meta: RequestMeta): Promise<void> {
    const limit = this.deps.rules[rule];
    if (!limit) return;
    const ip = clientNetwork(meta.ip, this.deps.ipv6Prefix);
    try {
      const seen = await this.deps.windows.observe(rule, ip, member, limit);
      if (seen.fired) await this.fire({ rule, ip, count: seen.count, window: limit.windowSeconds }, seen, meta);
    } catch (err) {
      this.deps.log.error({ err, rule, requestId: meta.requestId }, 'security alert rule could not be evaluated');
    }
  }

  private async fire(alert: SecurityAlert, seen: Observation, meta: RequestMeta): Promise<void> {
    try {
      await this.deps.repo.transaction(async (tx) => {
        // `meta` is the request that crossed the threshold: its address, client and id help the investigation.
        await recordAudit(tx, meta, [{ action: 'security.alert', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { ...alert } }]);
        for (const listener of this.listeners) await listener(tx, alert, meta);
      });
    } catch (err) {
      // Unrecorded, the alert has not happened: give the window back so the next event fires it.
      await this.deps.windows.rearm(alert.rule, alert.ip, seen.countedIn);
      throw err;
    }
    this.deps.metrics.securityAlerts.inc({ rule: alert.rule });
    this.deps.log.warn({ alert, countedIn: seen.countedIn, requestId: meta.requestId }, 'security alert');
  }
}
