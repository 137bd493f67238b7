import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, LOGIN, newIdentity, REFRESH, register, REGISTER } from '../../test/auth-client.js';
import { gql, useTestServer } from '../../test/harness.js';
import { eventually } from '../../test/tcp-proxy.js';
import { isDatabaseUnavailable } from './errors.js';

/**
 * PostgreSQL going away under a request: a fast shutdown ends every backend with 57P01 ("terminating
 * connection due to administrator command"), and new connections are refused with 57P03 while it stops or
 * starts. Either is an outage: SERVICE_UNAVAILABLE (503), never INTERNAL_SERVER_ERROR (500).
 */
describe('PostgreSQL ending the connection under a request', () => {
  const fx = useTestServer('dbgone');
  let holder: pg.Client | undefined;

  afterEach(async () => {
    await holder?.query('ROLLBACK').catch(() => undefined);
    await holder?.end();
    holder = undefined;
  });

  beforeAll(async () => {
    await register(fx.server); // the pools are warm
  });

  /** Starts `call` while `users` is locked, ends the backend it waits in (57P01), then returns its answer. */
  async function endTheBackendUnder<T>(call: () => Promise<T>): Promise<T> {
    holder = new pg.Client({ connectionString: fx.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    const answer = call();
    const { rows } = await eventually(
      async () => {
        // pg_stat_activity is a snapshot taken once per transaction, and `holder` stays in its own: without
        // clearing it, every poll would see the backends as the first one saw them (the request not yet waiting).
        await holder!.query('SELECT pg_stat_clear_snapshot()');
        return holder!.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
      },
      (r) => r.rows.length > 0,
      10_000,
    );
    for (const { pid } of rows) await holder.query('SELECT pg_terminate_backend($1)', [pid]);
    return answer;
  }

  it('answers SERVICE_UNAVAILABLE over GraphQL', async () => {
    const id = newIdentity('gone');
    const res = await endTheBackendUnder(() => gql(fx.server, LOGIN, { input: { identifier: id.username, password: id.password } }));
    expect(codeOf(res.body)).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers 503 over REST', async () => {
    const id = newIdentity('gone');
    const res = await endTheBackendUnder(() =>
      fetch(`${fx.server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: id.username, password: id.password }) }),
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers SERVICE_UNAVAILABLE to a refresh whose rotation (sent by node-postgres directly) loses its backend', async () => {
    const { refreshToken } = await register(fx.server);
    const res = await endTheBackendUnder(() => gql(fx.server, REFRESH, { t: refreshToken }));
    expect(codeOf(res.body)).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers 503 over REST to a sign-up whose statement (sent by node-postgres directly) loses its backend', async () => {
    const res = await endTheBackendUnder(() =>
      fetch(`${fx.server.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(newIdentity('gone')) }),
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers SERVICE_UNAVAILABLE when no connection frees up in time to start a transaction', async () => {
    holder = new pg.Client({ connectionString: fx.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    // Sign-ups wait inside their transactions (INSERT INTO users), each holding a pooled connection.
    await holder.query('LOCK TABLE users IN SHARE MODE');
    const calls = Array.from({ length: 14 }, () => gql(fx.server, REGISTER, { input: newIdentity('full') }));
    await Promise.race(calls);
    await holder.query('ROLLBACK');
    const codes = (await Promise.all(calls)).map((r) => codeOf(r.body) ?? 'ok');
    expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
    expect(codes).toContain('SERVICE_UNAVAILABLE');
  });

  it("counts pg's refusal of a client whose connection broke earlier as an outage (seen by the soak: a backend ended between two statements of a transaction)", async () => {
    holder = new pg.Client({ connectionString: fx.db.url });
    await holder.connect();
    const broken = new pg.Client({ connectionString: fx.db.url });
    // pg emits 'error' twice for a terminated backend: once for the server's 57P01 message and once more
    // ("Connection terminated unexpectedly") when the socket ends, in a later read when the two arrive
    // apart. A `once` listener leaves the second unhandled; so listen for all of them, and wait for the end.
    broken.on('error', () => undefined);
    const ended = new Promise((resolve) => broken.once('end', resolve));
    await broken.connect();
    const { rows } = await broken.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await holder.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await ended;
    const err: unknown = await broken.query('SELECT 1').then(() => undefined, (e: unknown) => e);
    await broken.end().catch(() => undefined);
    expect(err).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(err)).toBe(true);
    // As Prisma passes it on: the pg error as the cause of its own.
    expect(isDatabaseUnavailable(new Error('query failed', { cause: err }))).toBe(true);
  });
});
