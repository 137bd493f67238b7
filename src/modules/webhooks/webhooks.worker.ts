import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { Logger } from '../../infra/logger.js';
import type { JobMap } from '../../infra/queue.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { EndpointGates } from './endpoint-gates.js';
import { PROBE_LEASE_MS, type DeliveryHold } from './webhook-hold.js';
import { signatureOf } from './webhook-events.js';
import type { PostResult, WebhookHttp } from './webhook-http.js';
import type { AttemptRow, WebhooksRepository } from './webhooks.repository.js';
import { secretContext } from './webhooks.service.js';

export interface WebhookWorkerDeps {
  repo: WebhooksRepository;
  sealer: Sealer;
  http: Pick<WebhookHttp, 'post'>;
  gates: EndpointGates;
  /** The circuit shared by every worker: held deliveries and their probes. */
  hold: DeliveryHold;
  /** WEBHOOK_MAX_ATTEMPTS: a delivery's attempts over all its jobs. */
  maxAttempts: number;
  /** WEBHOOK_RETRY_DELAY_MS: the first retry's delay (BullMQ doubles it each time). */
  retryDelayMs: number;
  /** WEBHOOK_DISABLE_AFTER_DAYS, in ms: an endpoint failing this long is disabled. */
  disableAfterMs: number;
  log: Logger;
  now?: () => Date;
}

/** How much of an error or answer a delivery's record keeps. */
const MAX_ERROR = 500;

/** The secrets that sign now: the current one, and the previous one during its overlap. */
function signingSecrets(deps: WebhookWorkerDeps, e: AttemptRow['endpoint'], now: Date): string[] {
  const secrets = [deps.sealer.open(e.secretSealed, secretContext(e.id))];
  if (e.previousSecretSealed && e.previousSecretUntil && e.previousSecretUntil > now) secrets.push(deps.sealer.open(e.previousSecretSealed, secretContext(e.id)));
  return secrets;
}

/** What one attempt came to (the delivery's row records it either way). */
type AttemptOutcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string; last: boolean; gone: boolean; disabled: boolean; recorded: 'recorded' | 'abandoned' | 'gone' };

/**
 * One attempt of one delivery: signed per Standard Webhooks (a fresh `webhook-timestamp` and signature each
 * attempt, the same `webhook-id` and body), through the SSRF-safe client, with a 10-second deadline. A 2xx
 * succeeds; 410 disables the endpoint; anything else is a failure recorded with `nextAttemptAt` (none when
 * `final`). Shared by the delivery jobs and the held endpoints' probes.
 */
async function attempt(deps: WebhookWorkerDeps, row: AttemptRow, final: boolean, nextAttemptAt: Date): Promise<AttemptOutcome> {
  const now = deps.now ?? (() => new Date());
  const at = now();
  const timestamp = Math.floor(at.getTime() / 1000);
  let res: PostResult;
  try {
    const headers = {
      'webhook-id': row.messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureOf(signingSecrets(deps, row.endpoint, at), row.messageId, timestamp, row.body),
    };
    res = await deps.http.post(row.endpoint.url, headers, row.body);
  } catch (err) {
    return recordFailure(deps, row, final, nextAttemptAt, null, err instanceof Error ? err.message : String(err));
  }
  if (res.status < 200 || res.status >= 300) return recordFailure(deps, row, final, nextAttemptAt, res.status, `HTTP ${res.status}${res.bodyStart ? `: ${res.bodyStart}` : ''}`);
  await deps.repo.recordAttempt(row.id, { status: 'SUCCEEDED', responseStatus: res.status, error: null, deliveredAt: now(), nextAttemptAt: null });
  // Only a failing endpoint has a streak to end (the row was read with the delivery).
  if (row.endpoint.failingSince) await deps.repo.endpointAnswered(row.endpoint.id);
  return { ok: true, status: res.status };
}

/**
 * One job of the `webhook-delivery` queue. The gates keep one receiver from holding the worker's slots; a
 * delivery whose endpoint is held (its circuit open, shared in PostgreSQL) joins the held ones and its job
 * ends without an attempt (the probe releases it). BullMQ retries a failed attempt on the back-off.
 */
export function webhookProcessor(deps: WebhookWorkerDeps) {
  return async (job: Job<JobMap['webhook-delivery']>, token?: string) => {
    const { deliveryId, endpointId } = job.data;
    // The gate first: a delivery that will not be sent now costs no read.
    const gate = deps.gates.enter(endpointId);
    if (gate === 'open') {
      // Every slot held for a while without an answer: the endpoint is held, and this delivery with it.
      await deps.hold.open(endpointId, deps.hold.baseMs);
      if (await deps.repo.park(deliveryId)) return { held: true };
    }
    if (gate !== 'go') {
      // Every slot of this endpoint is taken: wait a moment without spending an attempt.
      await job.moveToDelayed(Date.now() + 200 + Math.floor(Math.random() * 500), token);
      throw new DelayedError();
    }
    // Whether the receiver answered well (true), badly or not at all (false); null when nothing was sent.
    let verdict: boolean | null = null;
    try {
      const row = await deps.repo.attemptOf(deliveryId);
      if (!row || row.status !== 'PENDING') return { skipped: row?.status ?? 'missing' };
      if (!row.endpoint.enabled) {
        await deps.repo.abandon(row.id, 'endpoint disabled');
        return { skipped: 'endpoint disabled' };
      }
      // Held meanwhile (queued before the circuit opened): it waits with the others, no attempt spent. When
      // the hold ended between the read and this, nothing is held and it goes now.
      if (row.endpoint.heldUntil && (await deps.repo.park(row.id))) return { held: true };
      const maxAttempts = job.opts.attempts ?? 1;
      // The job's attempts, or the delivery's own count (a released delivery comes back as a new job).
      const jobFinal = job.attemptsMade + 1 >= maxAttempts;
      const final = jobFinal || row.attempts + 1 >= maxAttempts;
      // BullMQ's exponential back-off: the n-th retry waits delay × 2^(n-1).
      const next = new Date(Date.now() + deps.retryDelayMs * 2 ** job.attemptsMade);
      const out = await attempt(deps, row, final, next);
      verdict = out.ok;
      if (out.ok) return { status: out.status };
      // Deleted with its endpoint, finished meanwhile, or its endpoint was disabled: nothing to retry.
      if (out.recorded !== 'recorded') return { skipped: out.recorded === 'gone' ? 'not pending' : 'endpoint disabled' };
      if (out.disabled && !out.gone) return { skipped: 'endpoint disabled' };
      throw out.gone || (out.last && !jobFinal) ? new UnrecoverableError(out.error) : new Error(out.error);
    } finally {
      // A skipped delivery neither proves nor disproves the endpoint: it only gives its slot back.
      const opened = deps.gates.leave(endpointId, verdict);
      if (opened !== null) {
        // Failures in a row: the circuit opens for every worker (the hold); this process's count starts over.
        deps.gates.reset(endpointId);
        await deps.hold.open(endpointId, opened).catch((err: unknown) => deps.log.warn({ err, endpointId }, 'webhook: could not hold the endpoint'));
      }
    }
  };
}

/**
 * One job of the `webhook-probe` queue: a held endpoint's probe (its oldest held delivery, sent as a real
 * attempt when the wait ends), or the sweep. One probe at a time per endpoint (a lease on the hold).
 */
export function probeProcessor(deps: WebhookWorkerDeps) {
  return async (job: Job<JobMap['webhook-probe']>) => {
    if (!('endpointId' in job.data)) return deps.hold.sweep();
    const { endpointId } = job.data;
    const claim = await deps.repo.claimProbe(endpointId, PROBE_LEASE_MS);
    if (!claim) return { skipped: 'not held, or not due' };
    if (!claim.enabled) {
      await deps.hold.abandon(endpointId);
      return { skipped: 'endpoint disabled' };
    }
    const id = await deps.repo.oldestHeld(endpointId);
    const row = id ? await deps.repo.attemptOf(id) : null;
    // Nothing held to test it with: the hold ends, and the next delivery tests the endpoint as usual.
    if (!row || row.status !== 'PENDING') return { released: await deps.hold.release(endpointId) };
    const final = row.attempts + 1 >= deps.maxAttempts;
    const until = deps.hold.nextWait(claim.probes);
    const out = await attempt(deps, row, final, until);
    if (out.ok) {
      deps.gates.reset(endpointId);
      return { released: await deps.hold.release(endpointId) };
    }
    if (out.recorded === 'abandoned' || out.disabled) {
      await deps.hold.abandon(endpointId);
      return { skipped: 'endpoint disabled' };
    }
    await deps.hold.extend(endpointId, claim.probes);
    return { failed: out.status ?? out.error };
  };
}

/**
 * Records a failed attempt on a pending delivery (PENDING with `nextAttemptAt`, or FAILED when `final` or
 * 410), marks the endpoint failing, and disables it for 410 or failing long enough. A delivery no longer
 * pending is left alone.
 */
async function recordFailure(deps: WebhookWorkerDeps, row: AttemptRow, final: boolean, nextAttemptAt: Date, status: number | null, message: string): Promise<AttemptOutcome> {
  const at = (deps.now ?? (() => new Date()))();
  const error = message.slice(0, MAX_ERROR);
  const gone = status === 410;
  const last = final || gone;
  const recorded = await deps.repo.recordAttempt(row.id, { status: last ? 'FAILED' : 'PENDING', responseStatus: status, error, deliveredAt: null, nextAttemptAt: last ? null : nextAttemptAt });
  const out = { ok: false as const, status, error, last, gone, disabled: false, recorded };
  if (recorded !== 'recorded') return out;
  const endpoint = row.endpoint;
  if (gone) {
    await disable(deps, endpoint.id, 'gone');
    return { ...out, disabled: true };
  }
  if (!endpoint.failingSince) await deps.repo.endpointFailed(endpoint.id, at);
  const cutoff = new Date(at.getTime() - deps.disableAfterMs);
  // Failing long enough (as read with the delivery, or from now): the conditional update decides.
  if ((endpoint.failingSince ?? at) > cutoff) return out;
  // Disabled (by this call or a concurrent one): nothing more is sent to it, this delivery included.
  await disable(deps, endpoint.id, 'failing', cutoff);
  const disabled = !(await deps.repo.endpointEnabled(endpoint.id));
  if (disabled) await deps.repo.abandon(row.id, 'endpoint disabled');
  return { ...out, disabled };
}

/** Disables the endpoint (with `failingBefore`: only if it has failed since then) and audits it, once. */
async function disable(deps: WebhookWorkerDeps, endpointId: string, reason: 'gone' | 'failing', failingBefore?: Date): Promise<boolean> {
  const done = await deps.repo.transaction(async (tx) => {
    const disabled = await deps.repo.disableEndpoint(tx, endpointId, reason, failingBefore);
    if (disabled) {
      await recordAudit(tx, null, [{ action: 'webhook.endpoint_disabled', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { endpointId, reason } }]);
    }
    return disabled;
  });
  if (done) deps.log.warn({ endpointId, reason }, 'webhook endpoint disabled');
  return done;
}
