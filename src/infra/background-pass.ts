/**
 * How far apart passes start under a steady stream of wake-ups (see BackgroundPass): at least `minMs`,
 * and at least the last pass's own duration times `perPass` (a slow, loaded database batches more), but
 * never more than `maxMs`.
 */
export interface PassSpacing {
  minMs: number;
  perPass: number;
  maxMs: number;
}

/**
 * The default, for loops whose work someone waits for (the outbox relay's emails, live security events):
 * passes at least 25 ms apart, a quarter of the loop's time in passes at most, and the added delay of a
 * job or event under load below a tenth of a second.
 */
export const DEFAULT_SPACING: PassSpacing = { minMs: 25, perPass: 4, maxMs: 100 };

/**
 * A background job that drains a table in passes: at most one pass at a time, a periodic sweep,
 * and wake-ups (after a commit, a NOTIFY) gathered for `gatherMs` into one pass, so a burst of sign-ups
 * costs one round, not one each. A wake-up during a pass runs another right after it (spaced, below).
 * Used by the outbox relay, the security-event publisher and the audit sealer.
 *
 * Spacing: a wake-up long after the last woken pass runs after `gatherMs` (an idle service delivers within
 * milliseconds). Under a steady stream of commits the next pass waits until `spacing` after the start of the
 * last woken one, so each pass drains several commits: every pass costs a handful of statements (a lease, a
 * read, a mark) whatever it carries, and on a bcrypt-bound box each of them is CPU that sign-ins no longer
 * get. Each loop picks its spacing (`opts.spacing`, default DEFAULT_SPACING): work nobody waits for (audit
 * sealing, the audit feed) may be spaced further. Sweeps do not count: a commit just after an empty sweep
 * of an idle service is not held back.
 */
export class BackgroundPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private woken = false;
  private stopped = true;
  /** When the last woken pass started, and how long it took (ms, performance.now()). */
  private lastStart = -Infinity;
  private lastMs = 0;
  private readonly spacing: PassSpacing;

  constructor(
    /** One pass; it must not throw (log and let the sweep retry). */
    private readonly pass: () => Promise<void>,
    private readonly opts: { sweepMs: number; gatherMs: number; spacing?: PassSpacing },
  ) {
    this.spacing = opts.spacing ?? DEFAULT_SPACING;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0, false);
  }

  /** A pass soon; later wake-ups within the gathering window do not push it back. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.woken) return;
    this.woken = true;
    this.schedule(Math.max(this.opts.gatherMs, this.untilSpaced()), true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** How long until a pass may start, so passes under steady wake-ups stay `spacing` apart. */
  private untilSpaced(): number {
    const { minMs, perPass, maxMs } = this.spacing;
    const spacing = Math.min(maxMs, Math.max(minMs, this.lastMs * perPass));
    return Math.max(0, this.lastStart + spacing - performance.now());
  }

  /** The next pass in `ms`: a woken one (it counts for the spacing) or a sweep (it does not). */
  private schedule(ms: number, woken: boolean) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.woken = false;
      const started = performance.now();
      if (woken) this.lastStart = started;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        if (woken) this.lastMs = performance.now() - started;
        if (this.stopped) return;
        const now = this.again;
        this.again = false;
        if (now) this.schedule(this.untilSpaced(), true);
        else this.schedule(this.opts.sweepMs, false);
      });
    }, ms);
    this.timer.unref();
  }
}
