import pg from 'pg';
import type { SignalTransport } from '../signal-transport.js';

/** LISTEN/NOTIFY on a channel per schema: nodes of another schema are another cluster. */
export class PostgresSignals implements SignalTransport {
  readonly kind = 'postgres' as const;
  private listener: pg.Client | null = null;
  /** set by close(): a LISTEN connection still being made is ended once made (see subscribe) */
  private closed = false;
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
    if (this.closed) return;
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (err) {
      lost = true;
      client.end().catch(() => undefined);
      throw err;
    }
    // closed while connecting (a node stopping during a resubscription): this connection is nobody's,
    // so it is ended here, not left open. Ending it from close() mid-connect would leave connect() pending.
    if (this.closed) {
      lost = true;
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.sender.end().catch(() => undefined);
  }
}
