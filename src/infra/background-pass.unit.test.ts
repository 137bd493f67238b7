import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundPass, type PassSpacing } from './background-pass.js';

/** The spacing the audit loops use: passes nobody waits for, batched under load. */
const SLOW: PassSpacing = { minMs: 250, perPass: 4, maxMs: 1_000 };

/** A loop whose passes take `passMs` (on the fake clock) and record when they started. */
function loop(opts: { sweepMs?: number; gatherMs?: number; spacing?: PassSpacing; passMs?: number } = {}) {
  const starts: number[] = [];
  const pass = new BackgroundPass(
    async () => {
      starts.push(performance.now());
      if (opts.passMs) await new Promise((r) => setTimeout(r, opts.passMs));
    },
    { sweepMs: opts.sweepMs ?? 1_000, gatherMs: opts.gatherMs ?? 5, ...(opts.spacing ? { spacing: opts.spacing } : {}) },
  );
  return { pass, starts };
}

/** Wakes `p` every `everyMs` for `forMs`, as commits of a steady stream of sign-ins would; returns the wake times. */
async function stream(p: BackgroundPass, everyMs: number, forMs: number): Promise<number[]> {
  const wakes: number[] = [];
  for (let t = 0; t < forMs; t += everyMs) {
    wakes.push(performance.now());
    p.wake();
    await vi.advanceTimersByTimeAsync(everyMs);
  }
  return wakes;
}

const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!);

describe('BackgroundPass spacing', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('batches a steady stream of wake-ups into passes `spacing.minMs` apart, and says so per loop', async () => {
    const audit = loop({ spacing: SLOW, passMs: 3 });
    const live = loop({ passMs: 3 }); // the default spacing, as the outbox relay and the event publisher
    audit.pass.start();
    live.pass.start();
    await vi.advanceTimersByTimeAsync(10); // the start's sweep
    audit.starts.length = 0;
    live.starts.length = 0;
    // ~30 sign-ins/s for 3 s, each waking both loops
    const wakes: number[] = [];
    for (let t = 0; t < 3_000; t += 33) {
      wakes.push(performance.now());
      audit.pass.wake();
      live.pass.wake();
      await vi.advanceTimersByTimeAsync(33);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    // The audit loop: one pass per ~250 ms, each carrying ~7.5 commits, none closer than 250 ms.
    const woken = audit.starts.filter((s) => s < wakes.at(-1)! + 300);
    expect(woken.length).toBeGreaterThanOrEqual(11);
    expect(woken.length).toBeLessThanOrEqual(14);
    expect(Math.min(...gaps(woken))).toBeGreaterThanOrEqual(250);
    // The default: still a pass per commit or so at 33 ms apart (its spacing is 25 ms).
    expect(live.starts.filter((s) => s < wakes.at(-1)! + 300).length).toBeGreaterThanOrEqual(80);
    await audit.pass.stop();
    await live.pass.stop();
  });

  it('after idle, a single wake-up runs within gatherMs, even right after a sweep', async () => {
    const audit = loop({ spacing: SLOW, sweepMs: 1_000 });
    audit.pass.start();
    await vi.advanceTimersByTimeAsync(2_000); // idle: the start's pass and sweeps, nothing else
    const sweeps = audit.starts.length;
    expect(sweeps).toBeGreaterThanOrEqual(2);
    // Just after a sweep (it ran at 2000 ms on the fake clock): a commit is sealed within gatherMs, not held back.
    await vi.advanceTimersByTimeAsync(1);
    const at = performance.now();
    audit.pass.wake();
    await vi.advanceTimersByTimeAsync(5);
    expect(audit.starts).toHaveLength(sweeps + 1);
    expect(audit.starts.at(-1)! - at).toBeLessThanOrEqual(5);
    // Long after that woken pass, the next single wake-up runs at once too.
    await vi.advanceTimersByTimeAsync(400);
    const later = performance.now();
    audit.pass.wake();
    await vi.advanceTimersByTimeAsync(5);
    expect(audit.starts.at(-1)! - later).toBeLessThanOrEqual(5);
    await audit.pass.stop();
  });

  it('keeps a loop’s added delay under load within maxMs (the events loop: 100 ms), and grows the spacing with a slow pass', async () => {
    const live = loop({ gatherMs: 5, passMs: 40, spacing: { minMs: 100, perPass: 4, maxMs: 100 } });
    live.pass.start();
    await vi.advanceTimersByTimeAsync(50);
    live.starts.length = 0;
    const wakes = await stream(live.pass, 20, 2_000);
    await vi.advanceTimersByTimeAsync(500);
    // Every wake-up is served by a pass that starts within 100 ms (+ the gathering window) of it.
    for (const w of wakes) {
      const served = live.starts.find((s) => s >= w);
      expect(served).toBeDefined();
      expect(served! - w).toBeLessThanOrEqual(100 + 5);
    }
    expect(Math.min(...gaps(live.starts.filter((s) => s <= wakes.at(-1)! + 100)))).toBeGreaterThanOrEqual(100);
    await live.pass.stop();

    // A pass taking 100 ms under SLOW spacing: the next waits 400 ms (4 x its duration) from its start.
    const slow = loop({ spacing: SLOW, passMs: 100 });
    slow.pass.start();
    await vi.advanceTimersByTimeAsync(200);
    slow.starts.length = 0;
    await stream(slow.pass, 20, 1_500);
    await vi.advanceTimersByTimeAsync(1_000);
    const slowGaps = gaps(slow.starts);
    expect(Math.min(...slowGaps)).toBeGreaterThanOrEqual(400);
    await slow.pass.stop();
  });
});
