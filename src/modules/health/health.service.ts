import { withTimeout } from '../../infra/redis.js';

export type Dependency = 'postgres' | 'redis';
export type Probe = () => Promise<unknown>;

export interface Readiness {
  ready: boolean;
  checks: Record<Dependency, 'up' | 'down'>;
}

/** Readiness: every dependency answers within a deadline, checked in parallel so one outage doesn't slow the probe. */
export class HealthService {
  constructor(
    private readonly probes: Record<Dependency, Probe>,
    private readonly timeoutMs = 1_500,
  ) {}

  async readiness(): Promise<Readiness> {
    const entries = await Promise.all(
      (Object.entries(this.probes) as [Dependency, Probe][]).map(async ([name, probe]) => {
        try {
          const ok = await withTimeout(probe(), this.timeoutMs);
          return [name, ok === false ? 'down' : 'up'] as const;
        } catch {
          return [name, 'down'] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries) as Readiness['checks'];
    return { ready: entries.every(([, s]) => s === 'up'), checks };
  }
}
