import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { Logger } from '../../infra/logger.js';
import type { JobMap } from '../../infra/queue.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { EndpointGates } from './endpoint-gates.js';
import { signatureOf } from './webhook-events.js';
import type { PostResult, WebhookHttp } from './webhook-http.js';
import type { AttemptRow, WebhooksRepository } from './webhooks.repository.js';
import { secretContext } from './webhooks.service.js';

export interface WebhookWorkerDeps {
  repo: WebhooksRepository;
  sealer: Sealer;
  http: Pick<WebhookHttp, 'post'>;
  gates: EndpointGates;
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

/**
 * One attempt of one delivery: signed per Standard Webhooks (a fresh `webhook-timestamp` and signature each
 * attempt, the same `webhook-id` and body), through the SSRF-safe client, with a 10-second deadline. A 2xx
 * succeeds; 410 disables the endpoint (no retry); anything else throws, and BullMQ retries on the back-off.
 * Every attempt is recorded on the delivery. The gates keep one receiver from holding the worker's slots.
 */
export function webhookProcessor(deps: WebhookWorkerDeps) {
  const now = deps.now ?? (() => new Date());
  return async (job: Job<JobMap['webhook-delivery']>, token?: string) => {
    const { deliveryId, endpointId } = job.data;
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // The gate first: a delivery that will not be sent now costs no read.
    const gate = deps.gates.enter(endpointId);
    if (gate === 'busy') {
      // Every slot of this endpoint is taken: wait a moment without spending an attempt.
      await job.moveToDelayed(Date.now() + 200 + Math.floor(Math.random() * 500), token);
      throw new DelayedError();
    }
    if (gate === 'open') {
      return failed(deps, job, final, { deliveryId, endpoint: null, status: null, error: 'not sent: the endpoint failed its last attempts (circuit open); retried later' });
    }
    // Whether the receiver answered well (true), badly or not at all (false); null when nothing was sent.
    let verdict: boolean | null = null;
    try {
      const row = await deps.repo.attemptOf(deliveryId);
      if (!row || row.status !== 'PENDING') return { skipped: row?.status ?? 'missing' };
      const endpoint = row.endpoint;
      if (!endpoint.enabled) {
        await deps.repo.abandon(row.id, 'endpoint disabled');
        return { skipped: 'endpoint disabled' };
      }
      const at = now();
      const timestamp = Math.floor(at.getTime() / 1000);
      let res: PostResult;
      try {
        const headers = {
          'webhook-id': row.messageId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureOf(signingSecrets(deps, endpoint, at), row.messageId, timestamp, row.body),
        };
        res = await deps.http.post(endpoint.url, headers, row.body);
      } catch (err) {
        verdict = false;
        return failed(deps, job, final, { deliveryId, endpoint, status: null, error: err instanceof Error ? err.message : String(err) });
      }
      verdict = res.status >= 200 && res.status < 300;
      if (!verdict) return failed(deps, job, final, { deliveryId, endpoint, status: res.status, error: `HTTP ${res.status}${res.bodyStart ? `: ${res.bodyStart}` : ''}` });
      await deps.repo.recordAttempt(deliveryId, { status: 'SUCCEEDED', responseStatus: res.status, error: null, deliveredAt: now(), nextAttemptAt: null });
      // Only a failing endpoint has a streak to end (the row was read with the delivery).
      if (endpoint.failingSince) await deps.repo.endpointAnswered(endpoint.id);
      return { status: res.status };
    } finally {
      // A skipped delivery neither proves nor disproves the endpoint: it only gives its slot back.
      deps.gates.leave(endpointId, verdict);
    }
  };
}

/**
 * Records a failed attempt and throws so that BullMQ retries it on the back-off (or, for 410 and the last
 * attempt, does not). `endpoint` is null when nothing was sent (the circuit was open). A delivery no longer
 * pending is left alone.
 */
async function failed(
  deps: WebhookWorkerDeps,
  job: Job<JobMap['webhook-delivery']>,
  final: boolean,
  f: { deliveryId: string; endpoint: AttemptRow['endpoint'] | null; status: number | null; error: string },
): Promise<{ skipped: string }> {
  const at = (deps.now ?? (() => new Date()))();
  const error = f.error.slice(0, MAX_ERROR);
  const gone = f.status === 410;
  const last = final || gone;
  // BullMQ's exponential back-off: the n-th retry waits delay × 2^(n-1).
  const nextAttemptAt = last ? null : new Date(at.getTime() + deps.retryDelayMs * 2 ** job.attemptsMade);
  const recorded = await deps.repo.recordAttempt(f.deliveryId, { status: last ? 'FAILED' : 'PENDING', responseStatus: f.status, error, deliveredAt: null, nextAttemptAt });
  // Deleted with its endpoint, finished meanwhile (a redelivery is a row of its own), or its endpoint was
  // disabled: nothing to retry.
  if (recorded !== 'recorded') return { skipped: recorded === 'gone' ? 'not pending' : 'endpoint disabled' };
  if (f.endpoint && gone) {
    await disable(deps, f.endpoint.id, 'gone');
    throw new UnrecoverableError(error);
  }
  if (f.endpoint) {
    if (!f.endpoint.failingSince) await deps.repo.endpointFailed(f.endpoint.id, at);
    const cutoff = new Date(at.getTime() - deps.disableAfterMs);
    // Failing long enough (as read with the delivery, or from now): the conditional update decides.
    if ((f.endpoint.failingSince ?? at) <= cutoff) await disable(deps, f.endpoint.id, 'failing', cutoff);
  }
  throw new Error(error);
}

/** Disables the endpoint (with `failingBefore`: only if it has failed since then) and audits it, once. */
async function disable(deps: WebhookWorkerDeps, endpointId: string, reason: 'gone' | 'failing', failingBefore?: Date): Promise<void> {
  const done = await deps.repo.transaction(async (tx) => {
    const disabled = await deps.repo.disableEndpoint(tx, endpointId, reason, failingBefore);
    if (disabled) {
      await recordAudit(tx, null, [{ action: 'webhook.endpoint_disabled', outcome: 'SUCCESS', actorId: null, targetUserId: null, details: { endpointId, reason } }]);
    }
    return disabled;
  });
  if (done) deps.log.warn({ endpointId, reason }, 'webhook endpoint disabled');
}
