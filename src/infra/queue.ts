import { Queue, Worker, type ConnectionOptions, type Job, type JobsOptions, type Processor } from 'bullmq';

/**
 * Queues and their job payloads, as one typed map. Empty here: each feature adds its queues in its
 * manifest (`declare module '.../infra/queue.js' { interface JobMap { ... } }`). Payloads never carry a
 * raw token or password: a job names a stored row, and the worker reads what it needs.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging, per feature
export interface JobMap {}

export type QueueName = keyof JobMap & string;

export interface QueueFactory {
  queue<N extends QueueName>(name: N): Queue<JobMap[N]>;
  worker<N extends QueueName>(name: N, processor: Processor<JobMap[N]>, opts?: { concurrency?: number }): Worker<JobMap[N]>;
  close(): Promise<void>;
}

/**
 * A finished job has nothing left to tell (the rows it names hold the outcome), so it is deleted at
 * once; a failed one stays a week for inspection, at most 1,000 per queue. Payloads carry nothing
 * personal in clear either way.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
};

/** BullMQ wiring: every queue shares the deployment prefix so tests and tenants never see each other's jobs. */
export function createQueueFactory(connection: ConnectionOptions, keyPrefix: string, opts: { lockMs?: number } = {}): QueueFactory {
  const prefix = `${keyPrefix}bull`;
  const queues = new Map<QueueName, Queue>();
  return {
    queue(name) {
      let q = queues.get(name);
      if (!q) {
        q = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
        // Queue errors (Redis outages) surface through readiness and job retries, not as crashes.
        q.on('error', () => undefined);
        queues.set(name, q);
      }
      return q as Queue<JobMap[typeof name]>;
    },
    worker(name, processor, workerOpts = {}) {
      // lockDuration: a worker that dies mid-job stops renewing its lock; after this long the job is stalled
      // and another worker retries it, so a killed process loses nothing.
      return new Worker(name, processor, {
        connection,
        prefix,
        concurrency: workerOpts.concurrency ?? 4,
        autorun: true,
        lockDuration: opts.lockMs ?? 30_000,
        stalledInterval: Math.max(250, Math.floor((opts.lockMs ?? 30_000) / 2)),
        // After a Redis error the worker loop pauses this long before fetching again (BullMQ: 15 s);
        // short, so a blip does not hold mail back long after Redis is back.
        runRetryDelay: 1_000,
      });
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

export type { Job };
