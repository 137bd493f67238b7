import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

export interface Spawned {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[];
  /** Resolves with the first JSON log line matching `msg`. */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Every process a test spawned: killed when the test worker exits, because a test that times out
 * never reaches its own `finally` (its awaited promise never settles) and would leave a server running.
 */
const spawned = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const child of spawned) child.kill('SIGKILL');
});

/** Runs an entry point (`src/main.ts`, `src/worker.ts`) as its own process, as `npm start` would. */
export function spawnEntry(entry: string, env: Record<string, string>, args: string[] = []): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  const lines: string[] = [];
  const waiters: { msg: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        for (const w of [...waiters]) {
          if (parsed.msg === w.msg) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      } catch {
        // Not JSON (stderr text): kept in `lines` for the assertion messages.
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return {
    child,
    lines,
    waitFor(msg, timeoutMs = 30_000) {
      const found = lines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return undefined; } }).find((p) => p?.msg === msg);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
        waiters.push({ msg, resolve: (v) => { clearTimeout(timer); resolve(v); } });
        void exit.then(({ code }) => reject(new Error(`exited (${code}) before "${msg}":\n${lines.join('\n')}`)));
      });
    },
    exited: () => exit,
  };
}
