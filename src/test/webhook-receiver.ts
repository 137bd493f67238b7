import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its path, headers and raw body (what a Standard Webhooks library verifies). */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** How a path answers its n-th request (from 0): a status, or `hang` (never answers). */
export type Answer = number | 'hang';

/**
 * A webhook receiver on loopback for tests: every path records what it got and answers from a script
 * (`answer(path, [500, 'hang', 200])`, the last entry repeating; 204 when unscripted).
 */
export async function startReceiver() {
  const received: Received[] = [];
  const scripts = new Map<string, Answer[]>();
  const counts = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  const waiters: { test: () => boolean; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      const script = scripts.get(path) ?? [204];
      const answer = script[Math.min(n, script.length - 1)]!;
      if (answer === 'hang') hanging.add(res);
      else if (answer >= 300 && answer < 400) res.writeHead(answer, { location: `${path}/redirected` }).end();
      else res.writeHead(answer).end(answer === 410 ? 'gone' : '');
      for (const w of [...waiters]) {
        if (w.test()) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    received,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    answer(path: string, script: Answer[]) {
      scripts.set(path, script);
    },
    at: (path: string) => received.filter((r) => r.path === path),
    /** Resolves once `test` holds (checked at each request), or rejects after `ms`. */
    until(test: () => boolean, ms = 20_000): Promise<void> {
      if (test()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('receiver: timed out waiting')), ms);
        waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
