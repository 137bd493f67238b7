import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Sealer } from '../../infra/crypto/sealed.js';
import type { Logger } from '../../infra/logger.js';
import type { JobMap } from '../../infra/queue.js';
import { recordAudit } from '../audit/audit.repository.js';
import type { EndpointGates } from './endpoint-gates.js';
import { signatureOf } from './webhook-events.js';
import type { WebhookHttp } from './webhook-http.js';
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
    const row = await deps.repo.attemptOf(job.data.deliveryId);
    if (!row || row.status !== 'PENDING') return { skipped: row?.status ?? 'missing' };
    const endpoint = row.endpoint;
    if (!endpoint.enabled) {
      await deps.repo.abandon(row.id, 'endpoint disabled');
      return { skipped: 'endpoint disabled' };
    }
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const gate = deps.gates.enter(endpoint.id);
    if (gate === 'busy') {
      // Every slot of this endpoint is taken: wait a moment without spending an attempt.
      await job.moveToDelayed(Date.now() + 200 + Math.floor(Math.random() * 500), token);
      throw new DelayedError();
    }
    let outcome: { ok: boolean; status: number | null; error: string | null };
    if (gate === 'open') {
      outcome = { ok: false, status: null, error: 'not sent: the endpoint failed its last attempts (circuit open); retried later' };
    } else {
      const at = now();
      const timestamp = Math.floor(at.getTime() / 1000);
      let ok = false;
      try {
        const headers = {
          'webhook-id': row.messageId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureOf(signingSecrets(deps, endpoint, at), row.messageId, timestamp, row.body),
        };
        const res = await deps.http.post(endpoint.url, headers, row.body);
        ok = res.status >= 200 && res.status < 300;
        outcome = { ok, status: res.status, error: ok ? null : `HTTP ${res.status}${res.bodyStart ? `: ${res.bodyStart}` : ''}`.slice(0, MAX_ERROR) };
      } catch (err) {
        outcome = { ok: false, status: null, error: (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR) };
      } finally {
        deps.gates.leave(endpoint.id, ok);
      }
    }
    const at = now();
    if (outcome.ok) {
      await deps.repo.recordAttempt(row.id, { status: 'SUCCEEDED', responseStatus: outcome.status, error: null, deliveredAt: at, nextAttemptAt: null });
      // Only a failing endpoint has a streak to end (the row was read with the delivery).
      if (endpoint.failingSince) await deps.repo.endpointAnswered(endpoint.id);
      return { status: outcome.status };
    }
    const gone = outcome.status === 410;
    const last = final || gone;
    // BullMQ's exponential back-off: the n-th retry waits delay × 2^(n-1).
    const nextAttemptAt = last ? null : new Date(at.getTime() + deps.retryDelayMs * 2 ** job.attemptsMade);
    await deps.repo.recordAttempt(row.id, { status: last ? 'FAILED' : 'PENDING', responseStatus: outcome.status, error: outcome.error, deliveredAt: null, nextAttemptAt });
    if (gone) {
      await disable(deps, endpoint.id, 'gone');
      throw new UnrecoverableError(outcome.error ?? 'HTTP 410');
    }
    if (gate === 'go') {
      if (!endpoint.failingSince) await deps.repo.endpointFailed(endpoint.id, at);
      const cutoff = new Date(at.getTime() - deps.disableAfterMs);
      // Failing long enough (as read with the delivery, or from now): the conditional update decides.
      if ((endpoint.failingSince ?? at) <= cutoff) await disable(deps, endpoint.id, 'failing', cutoff);
    }
    throw new Error(outcome.error ?? 'delivery failed');
  };
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
