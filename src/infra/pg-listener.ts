import pg from 'pg';
import type { Logger } from './logger.js';

/**
 * A dedicated PostgreSQL connection LISTENing on one channel: `onNotify` runs for each notification (sent
 * at commit), and again after each reconnection (notifications may have been missed meanwhile). It
 * reconnects with back-off until stopped. Used where a background pass should wake as soon as rows commit.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private stopped = true;

  constructor(
    private readonly databaseUrl: string,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly log: Logger,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`PgListener: ${channel} is not a plain channel name`);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listen(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private async listen(attempt: number): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: `latchkey-listen-${this.channel}` });
    client.on('notification', () => this.onNotify());
    client.on('error', (err) => {
      this.log.warn({ err, channel: this.channel }, 'LISTEN connection lost; reconnecting');
      client.end().catch(() => undefined);
      if (this.client === client) this.client = undefined;
      const delay = Math.min(10_000, 250 * 2 ** attempt);
      setTimeout(() => void this.listen(attempt + 1).catch(() => undefined), delay).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      if (attempt > 0) this.onNotify();
    } catch (err) {
      client.emit('error', err);
    }
  }
}
