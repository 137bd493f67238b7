import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALERT_RULE_NAMES } from '../../infra/config.js';
import { createMetrics } from '../../infra/metrics.js';

const dir = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const MISSING = 'promtool is not installed (Debian: apt-get install -y --no-install-recommends prometheus); .ci/run installs it';

const run = (...args: string[]) => spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });

describe('deploy/prometheus alerting rules', () => {
  it('pass promtool check rules', (ctx) => {
    ctx.skip(promtool.status !== 0, MISSING);
    const res = run('check', 'rules', 'alerts.yml');
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('pass their unit tests (promtool test rules alerts.test.yml)', (ctx) => {
    ctx.skip(promtool.status !== 0, MISSING);
    const res = run('test', 'rules', 'alerts.test.yml');
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('name only metrics the service exports (and `up`)', async () => {
    const metrics = createMetrics();
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
    const named = new Set([...rules.matchAll(/\b(latchkey_[a-z_]+?)(?:_bucket|_count|_sum)?\b(?=[{[\s)])/g)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(5);
    for (const name of named) expect(exported, name).toContain(name);
    for (const rule of ALERT_RULE_NAMES) expect(await metrics.registry.getSingleMetricAsString('latchkey_security_alerts_total')).toContain(`rule="${rule}"} 0`);
  });
});
