import { describe, expect, it } from 'vitest';
import { useTestServers } from '../../test/harness.js';
import { spawnEntry } from '../../test/process.js';

/** The entry points with METRICS_PORT: each process serves its own /metrics there, and stops it on SIGTERM. */
describe('metrics listener of the entry points', () => {
  const fx = useTestServers('metrics-entry');
  const token = 'entry-point-metrics-token-0123456789';
  const env = () => fx.entryEnv({ METRICS_PORT: '0', METRICS_TOKEN: token });

  it('the API serves /metrics on METRICS_PORT only, and closes it on SIGTERM', async () => {
    const proc = spawnEntry('src/main.ts', env(), ['--role=api']);
    try {
      const ready = await proc.waitFor('latchkey is ready');
      const api = String(ready.address);
      const metricsUrl = String(ready.metrics);
      expect(new URL(metricsUrl).port).not.toBe(new URL(api).port);
      expect((await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
      expect((await fetch(metricsUrl)).status).toBe(401);
      const ok = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('latchkey_http_requests_total');

      // The scrape above left a keep-alive connection open: it must not hold the process.
      proc.child.kill('SIGTERM');
      expect((await proc.exited()).code).toBe(0);
      expect(proc.lines.some((l) => l.includes('"msg":"stopped cleanly"'))).toBe(true);
      await expect(fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } })).rejects.toThrow();
      expect(proc.lines.join('\n')).not.toContain(token);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it('the worker, which has no API port, serves its own counters there', async () => {
    const proc = spawnEntry('src/worker.ts', env());
    try {
      const ready = await proc.waitFor('latchkey worker is ready');
      const metricsUrl = String(ready.metrics);
      expect((await fetch(metricsUrl)).status).toBe(401);
      const ok = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('latchkey_jobs_total');
      proc.child.kill('SIGTERM');
      expect((await proc.exited()).code).toBe(0);
      expect(proc.lines.some((l) => l.includes('"msg":"stopped cleanly"'))).toBe(true);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});
