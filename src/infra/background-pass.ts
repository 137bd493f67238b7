/**
 * A background job that drains a table in passes: at most one pass at a time, a periodic sweep,
 * and wake-ups (after a commit, a NOTIFY) gathered for `gatherMs` into one pass, so a burst of sign-ups
 * costs one round, not one each. A wake-up during a pass runs another right after it.
 * Used by the outbox relay and the security-event publisher.
 */
export class BackgroundPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private woken = false;
  private stopped = true;

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
    this.schedule(this.opts.gatherMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.woken = false;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        const now = this.again;
        this.again = false;
        this.schedule(now ? 0 : this.opts.sweepMs);
      });
    }, ms);
    this.timer.unref();
  }
}
