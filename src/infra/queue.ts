import { Queue, Worker, type ConnectionOptions, type Job, type JobsOptions, type Processor } from 'bullmq';

/**
 * Queues and their job payloads, as one typed map. Payloads never carry a raw token or password:
 * a job names a stored row, and the worker reads what it needs.
 */
export interface JobMap {
  /** Deletes expired sessions, refresh tokens and one-time tokens. */
  maintenance: { task: 'purge-expired' };
}

export type QueueName = keyof JobMap;

export interface QueueFactory {
  queue<N extends QueueName>(name: N): Queue<JobMap[N]>;
  worker<N extends QueueName>(name: N, processor: Processor<JobMap[N]>, opts?: { concurrency?: number }): Worker<JobMap[N]>;
  close(): Promise<void>;
}

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** BullMQ wiring: every queue shares the deployment prefix so tests and tenants never see each other's jobs. */
export function createQueueFactory(connection: ConnectionOptions, keyPrefix: string): QueueFactory {
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
    worker(name, processor, opts = {}) {
      return new Worker(name, processor, { connection, prefix, concurrency: opts.concurrency ?? 4, autorun: true });
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

export type { Job };
