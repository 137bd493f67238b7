import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, wantsPrettyLogs, type Logger } from './logger.js';
import { tuneV8ForService } from './v8-tuning.js';

export interface Running {
  /** Stop accepting work, finish what is in flight, release every resource. */
  stop(): Promise<void>;
}

/** The exit deadline after SIGTERM: drain and exit within 10 s (README "Architecture", shutdown). */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Entry-point lifecycle shared by `main.ts` and `worker.ts`: parse the config once (every bad key named),
 * start, and on SIGTERM/SIGINT stop within the deadline. Start-up failures print one clear line, no stack.
 */
export async function runProcess(name: string, start: (config: Config, log: Logger) => Promise<Running>): Promise<void> {
  tuneV8ForService();
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`latchkey ${name}: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const log = createLogger({ level: config.log.level, base: { role: name }, pretty: wantsPrettyLogs(config.env) });

  let running: Running;
  try {
    running = await start(config, log);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.fatal({ err: e }, 'start failed');
    process.stderr.write(`latchkey ${name}: could not start: ${message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline passed, exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    running.stop().then(
      () => {
        log.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
}
