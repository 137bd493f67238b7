import type { AuditSealsRepository } from './audit-seals.repository.js';

/**
 * AUDIT_RETENTION_DAYS: entries older than that go, with their seals, oldest first, so the rest stays one
 * chain that `npm run audit:verify` checks from its oldest remaining seal. Run by the hourly maintenance job.
 */
export class AuditRetention {
  constructor(private readonly deps: { repo: Pick<AuditSealsRepository, 'purgeBefore'>; retentionDays: number }) {}

  /** Removes what is past retention at `now`; returns how many entries went. */
  purge(now: Date): Promise<number> {
    return this.deps.repo.purgeBefore(new Date(now.getTime() - this.deps.retentionDays * 86_400_000));
  }
}
