import pg from 'pg';
import type { SignalTransport } from '../signal-transport.js';

/** LISTEN/NOTIFY on a channel per schema: nodes of another schema are another cluster. */
export class PostgresSignals implements SignalTransport {
  readonly kind = 'postgres' as const;
  private listener: pg.Client | null = null;
  private readonly sender: pg.Pool;
  private readonly channel: string;

  constructor(
    private readonly connectionString: string,
    schema: string,
  ) {
    this.channel = `ms_signals_${schema}`.slice(0, 63);
    this.sender = new pg.Pool({ connectionString, max: 1 });
    this.sender.on('error', () => undefined);
  }

  send(payload: string): void {
    this.sender.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch(() => undefined);
  }

  async subscribe(onPayload: (payload: string) => void, onLost: (err?: unknown) => void): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    let lost = false;
    const drop = (err?: unknown): void => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = null;
      onLost(err);
    };
    client.on('notification', (n) => onPayload(n.payload ?? ''));
    client.on('error', (err) => drop(err));
    client.on('end', () => drop());
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (err) {
      lost = true;
      client.end().catch(() => undefined);
      throw err;
    }
    this.listener = client;
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.sender.end().catch(() => undefined);
  }
}
