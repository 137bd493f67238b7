import type { TestServer } from './harness.js';

/** The `security.alert` audit entries written so far (oldest first), optionally those about one client network. */
export async function securityAlerts(server: TestServer, ip?: string) {
  const rows = await server.infra.prisma.auditEntry.findMany({ where: { action: 'security.alert' }, orderBy: { occurredAt: 'asc' } });
  return rows.filter((r) => ip === undefined || (r.details as { ip?: string } | null)?.ip === ip);
}

/** One series' value in a Prometheus exposition (0 when absent); `labels` must match exactly. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of exposition.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === want) return Number(m[3]);
  }
  return 0;
}

/** A metric summed over several instances (each exports its own counters). */
export async function metricTotal(servers: readonly TestServer[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let total = 0;
  for (const s of servers) total += metricValue(await (await fetch(`${s.url}/metrics`)).text(), name, labels);
  return total;
}

/** Every series of one metric in an exposition, as label objects. */
export function seriesOf(exposition: string, metric: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = line.slice(metric.length + 1, line.indexOf('}'));
    out.push(Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!])));
  }
  return out;
}
