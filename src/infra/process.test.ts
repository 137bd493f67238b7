import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { newIdentity, REGISTER } from '../test/auth-client.js';
import { useTestServers } from '../test/harness.js';
import { spawnEntry } from '../test/process.js';
import { eventually } from '../test/tcp-proxy.js';

describe('start-up', () => {
  it('with no Redis answering, exits with one line that says how to start one', async () => {
    const proc = spawnEntry('src/main.ts', {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/never_used',
      REDIS_URL: 'redis://127.0.0.1:1',
      PORT: '0',
      DATA_DIR: join(tmpdir(), `latchkey-noredis-${process.pid}`),
      LOG_LEVEL: 'silent',
    });
    const { code } = await proc.exited();
    expect(code).toBe(1);
    const stderr = proc.lines.filter((l) => !l.startsWith('{'));
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toContain('redis://127.0.0.1:1');
    expect(stderr[0]).toContain('redis-server --daemonize yes');
  });
});

describe('graceful shutdown', () => {
  const fx = useTestServers('sigterm');

  it('on SIGTERM closes open WebSockets with 1001, lets the running job finish, and exits 0 within 10 s', async () => {
    const proc = spawnEntry('src/main.ts', fx.entryEnv());
    const locker = new pg.Client({ connectionString: fx.db.url });
    const queue = new Queue('maintenance', { connection: { host: '127.0.0.1', port: 6379 }, prefix: `${fx.prefix}bull` });
    try {
      const ready = await proc.waitFor('latchkey is ready');
      const port = new URL(String(ready.address)).port;

      const reg = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: REGISTER, variables: { input: newIdentity('sigterm') } }),
      });
      const { accessToken } = ((await reg.json()) as { data: { register: { accessToken: string } } }).data.register;
      const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${accessToken}` } }));
      await new Promise<void>((resolve) => socket.once('message', () => resolve()));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

      // Hold the purge job mid-run: it deletes from refresh_tokens, which this transaction locks.
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE');
      // Ours, or the scheduler's own first run if it started after the lock: whichever is running must finish.
      await queue.add('purge-expired', { task: 'purge-expired' });
      const active = await eventually(() => queue.getActive(), (jobs) => jobs.length > 0);

      const signalledAt = Date.now();
      proc.child.kill('SIGTERM');
      expect(await closed).toBe(1001);
      await new Promise((r) => setTimeout(r, 500));
      expect(proc.child.exitCode).toBeNull(); // still waiting for the job, not killed mid-way
      await locker.query('COMMIT');

      const { code } = await proc.exited();
      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(10_000);
      for (const job of active) expect(await queue.getJobState(job.id ?? '')).toBe('completed');
      expect(await queue.getFailedCount()).toBe(0);
      expect(proc.lines.some((l) => l.includes('"msg":"stopped cleanly"'))).toBe(true);
    } finally {
      proc.child.kill('SIGKILL');
      await locker.end().catch(() => undefined);
      await queue.close();
    }
  });
});
