/** Under steady wake-ups, passes start at least this far apart (ms): a sign-in storm is drained in batches. */
const MIN_SPACING_MS = 25;
/** ... and a pass's own duration times this (a loop spends at most about a quarter of its time in passes). */
const SPACING_PER_PASS_MS = 4;
/** ... but never more than this: the added delay of an event under load stays below a tenth of a second. */
const MAX_SPACING_MS = 100;

/**
 * A background job that drains a table in passes: at most one pass at a time, a periodic sweep,
 * and wake-ups (after a commit, a NOTIFY) gathered for `gatherMs` into one pass, so a burst of sign-ups
 * costs one round, not one each. A wake-up during a pass runs another right after it.
 * Used by the outbox relay, the security-event publisher and the audit sealer.
 *
 * Spacing: a wake-up long after the last pass runs after `gatherMs`, as before (an idle service delivers
 * within milliseconds). Under a steady stream of commits the next pass waits until `spacing` after the
 * start of the last one, so each pass drains several commits: every pass costs a handful of statements
 * (a lease, a read, a mark) whatever it carries, and on a bcrypt-bound box each of them is CPU that
 * sign-ins no longer get. The spacing grows with the pass's own duration (a slow, loaded database
 * batches more) and stays within MIN_SPACING_MS..MAX_SPACING_MS.
 */
export class BackgroundPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private woken = false;
  private stopped = true;
  /** When the last pass started, and how long it took (ms, performance.now()). */
  private lastStart = -Infinity;
  private lastMs = 0;

  constructor(
    /** One pass; it must not throw (log and let the sweep retry). */
    private readonly pass: () => Promise<void>,
    private readonly opts: { sweepMs: number; gatherMs: number },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
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
    this.schedule(Math.max(this.opts.gatherMs, this.untilSpaced()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** How long until a pass may start, so passes under steady wake-ups stay `spacing` apart. */
  private untilSpaced(): number {
    const spacing = Math.min(MAX_SPACING_MS, Math.max(MIN_SPACING_MS, this.lastMs * SPACING_PER_PASS_MS));
    return Math.max(0, this.lastStart + spacing - performance.now());
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.woken = false;
      const started = performance.now();
      this.lastStart = started;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.lastMs = performance.now() - started;
        if (this.stopped) return;
        const now = this.again;
        this.again = false;
        this.schedule(now ? this.untilSpaced() : this.opts.sweepMs);
      });
    }, ms);
    this.timer.unref();
  }
}
