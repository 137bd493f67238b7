import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the postmaster.pid in a data dir means for the next start. */
export type LockState =
  /** `stoppedOrphan`: the pid of a postmaster left by a killed app, now shut down. */
  | { kind: 'free'; stoppedOrphan?: number }
  /** A live postmaster of another running instance (say, the worker beside the API): share it. */
  | { kind: 'in-use'; pid: number; port: number };

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function procText(pid: number, file: string): Promise<string | null> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => null);
}

async function parentPid(pid: number): Promise<number | null> {
  const stat = await procText(pid, 'stat');
  // Fields after the parenthesised command name: state, ppid, ...
  const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return ppid ? Number(ppid) : null;
}

/**
 * Clears what a crash leaves in `pgdata` so the next start is not refused: a postmaster.pid whose
 * PID died or was reused (PostgreSQL refuses whenever that PID exists, likely after a container
 * restart), and a postmaster orphaned by a killed parent, which is shut down.
 * Without /proc (not Linux) only the dead-PID case is handled; PostgreSQL handles that itself too.
 */
export async function clearStaleLock(pgdata: string): Promise<LockState> {
  const pidFile = path.join(pgdata, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => null);
  if (text === null) return { kind: 'free' };
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    await rm(pidFile, { force: true });
    return { kind: 'free' };
  }
  const cmdline = await procText(pid, 'cmdline');
  if (cmdline === null) return { kind: 'free' };
  const args = cmdline.split('\0');
  if (!args.some((a) => path.resolve(a) === path.resolve(pgdata))) {
    await rm(pidFile, { force: true });
    return { kind: 'free' };
  }
  const ppid = await parentPid(pid);
  const parentCmd = ppid && ppid !== 1 ? await procText(ppid, 'cmdline') : null;
  const orphaned = ppid !== process.pid && (parentCmd === null || !/node|tsx|vitest/.test(parentCmd));
  if (!orphaned) return { kind: 'in-use', pid, port };
  await stopPostmaster(pid);
  return { kind: 'free', stoppedOrphan: pid };
}

async function stopPostmaster(pid: number): Promise<void> {
  // SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one, should that hang.
  for (const [signal, waitMs] of [['SIGINT', 15_000], ['SIGQUIT', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    for (let waited = 0; waited < waitMs; waited += 100) {
      if (!alive(pid)) return;
      await sleep(100);
    }
  }
  throw new Error(`an orphaned embedded PostgreSQL (pid ${pid}) did not stop`);
}
