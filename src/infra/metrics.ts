import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { ALERT_RULE_NAMES, LIMIT_NAMES } from './config.js';

/**
 * Every label value is drawn from a set the server knows, never from what a client sends: each distinct
 * value is a series held in memory until restart. Values outside the set are counted as `other`.
 */
export const OTHER_LABEL = 'other';

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The request method as a label: Node's parser admits some thirty-five (PROPFIND, MKCALENDAR...), we name seven. */
export const methodLabel = (method: string): string => (HTTP_METHODS.has(method) ? method : OTHER_LABEL);

/** Prometheus metrics on a registry of our own, so several app instances in one test process do not collide. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'latchkey_' });
  const buckets = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    httpRequests: new Counter({
      name: 'latchkey_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'latchkey_http_request_duration_seconds',
      help: 'HTTP request latency by method and route',
      labelNames: ['method', 'route'] as const,
      buckets,
      registers: [registry],
    }),
    graphqlOperations: new Counter({
      name: 'latchkey_graphql_operations_total',
      // `operation` is the root field the operation selects (`multiple`, `other`): never the client's operationName.
      help: 'GraphQL operations by root field, type and outcome',
      labelNames: ['operation', 'type', 'outcome'] as const,
      registers: [registry],
    }),
    graphqlDuration: new Histogram({
      name: 'latchkey_graphql_operation_duration_seconds',
      help: 'GraphQL operation latency by root field and type',
      labelNames: ['operation', 'type'] as const,
      buckets,
      registers: [registry],
    }),
    emails: new Counter({
      name: 'latchkey_emails_total',
      help: 'Email delivery attempts by template and outcome (sent, retried, failed)',
      labelNames: ['template', 'outcome'] as const,
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'latchkey_jobs_total',
      help: 'Background jobs by queue and outcome',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    ...securityMetrics(registry),
  };
}

/** What a sign-up attempt came to (`latchkey_signups_total{outcome}`); all but `created` and `error` are refusals. */
export const SIGNUP_OUTCOMES = ['created', 'invalid', 'weak_password', 'taken', 'rate_limited', 'error'] as const;
export type SignUpOutcome = (typeof SIGNUP_OUTCOMES)[number];

/**
 * The security counters (docs/api.md, "Alerts"). Every label set is known in advance and exported at 0 from
 * the start, so a first event is an increase Prometheus can see (a series born at 1 shows no `increase()`).
 */
function securityMetrics(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labels: Partial<Record<L, readonly string[]>> = {}) => {
    const labelNames = Object.keys(labels) as L[];
    const c = new Counter<L>({ name, help, labelNames, registers: [registry] });
    const [label] = labelNames;
    if (label === undefined) return c;
    for (const value of labels[label] ?? []) c.inc({ [label]: value } as Partial<Record<L, string>>, 0);
    return c;
  };
  return {
    loginFailures: counter('latchkey_login_failures_total', 'Failed sign-ins: wrong password or unknown identifier, locked or disabled account, wrong second-factor code'),
    signups: counter<'outcome'>('latchkey_signups_total', 'Sign-up attempts by outcome', { outcome: SIGNUP_OUTCOMES }),
    rateLimited: counter<'limit'>('latchkey_rate_limited_total', 'Attempts refused by a rate limit, by limit name', { limit: LIMIT_NAMES }),
    lockouts: counter('latchkey_lockouts_total', 'New locks of an account after repeated failures'),
    refreshReuse: counter('latchkey_refresh_reuse_total', 'Replayed refresh tokens (the session was revoked)'),
    securityAlerts: counter<'rule'>('latchkey_security_alerts_total', 'Built-in security alert rules fired, by rule', { rule: ALERT_RULE_NAMES }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
