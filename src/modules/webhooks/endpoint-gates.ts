/**
 * Per-endpoint isolation inside one worker process, so a slow or dead receiver cannot take the worker's
 * slots from the others:
 *  - at most `maxInFlight` attempts to one endpoint at a time; beyond that a delivery waits (`busy`: put back
 *    for a moment, not an attempt);
 *  - a circuit breaker: after `threshold` failures in a row, attempts fail at once without a request
 *    (`open`, an attempt that retries on the normal back-off) for a period doubling up to `maxOpenMs`; then one
 *    probe goes through (others still fail fast) and its answer closes or reopens the circuit;
 *  - an endpoint whose every slot has been busy for `saturatedMs` is treated as open too: a receiver that
 *    holds connections without answering is found out before the first timeouts come back.
 */
export interface GateOptions {
  maxInFlight: number;
  threshold: number;
  baseOpenMs: number;
  maxOpenMs: number;
  saturatedMs: number;
}

export type GateDecision = 'go' | 'busy' | 'open';

interface GateState {
  inFlight: number;
  failures: number;
  openUntil: number;
  saturatedSince: number | null;
  probing: boolean;
}

export class EndpointGates {
  private readonly states = new Map<string, GateState>();

  constructor(
    private readonly opts: GateOptions,
    private readonly clock: () => number = Date.now,
  ) {}

  enter(endpointId: string): GateDecision {
    const now = this.clock();
    let s = this.states.get(endpointId);
    if (!s) {
      s = { inFlight: 0, failures: 0, openUntil: 0, saturatedSince: null, probing: false };
      this.states.set(endpointId, s);
    }
    if (s.openUntil > now) return 'open';
    if (s.failures >= this.opts.threshold) {
      // Half-open: one probe at a time; the rest fail fast until it answers.
      if (s.probing) return 'open';
      s.probing = true;
      s.inFlight++;
      return 'go';
    }
    if (s.inFlight >= this.opts.maxInFlight) {
      s.saturatedSince ??= now;
      return now - s.saturatedSince >= this.opts.saturatedMs ? 'open' : 'busy';
    }
    s.inFlight++;
    return 'go';
  }

  /**
   * Gives the slot back with the attempt's verdict: answered well, failed, or null when nothing was sent.
   * Returns how long the circuit is now open when this failure opened (or reopened) it, else null.
   */
  leave(endpointId: string, ok: boolean | null): number | null {
    const s = this.states.get(endpointId);
    if (!s) return null;
    let opened: number | null = null;
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.probing = false;
    if (s.inFlight < this.opts.maxInFlight) s.saturatedSince = null;
    if (ok === null) {
      // Nothing learnt about the endpoint.
    } else if (ok) {
      s.failures = 0;
      s.openUntil = 0;
    } else {
      s.failures++;
      if (s.failures >= this.opts.threshold) {
        const open = Math.min(this.opts.maxOpenMs, this.opts.baseOpenMs * 2 ** Math.min(20, s.failures - this.opts.threshold));
        s.openUntil = this.clock() + open;
        opened = open;
      }
    }
    // Bounded by the endpoints there are; a healthy idle one leaves no state behind.
    if (s.inFlight === 0 && s.failures === 0) this.states.delete(endpointId);
    return opened;
  }

  /**
   * Forgets the endpoint's failures and open circuit (its slots in use stay counted): once the circuit is
   * recorded in PostgreSQL (the hold, shared by every worker), the hold decides, not this process's memory.
   */
  reset(endpointId: string): void {
    const s = this.states.get(endpointId);
    if (!s) return;
    s.failures = 0;
    s.openUntil = 0;
    s.probing = false;
    if (s.inFlight === 0) this.states.delete(endpointId);
  }
}
