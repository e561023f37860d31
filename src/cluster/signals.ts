import pg from 'pg';
import type { Redis } from 'ioredis';
import { redisClient } from '../redis/redis-client.js';
import type { RedisConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';

/**
 * Pushes between nodes, so they need not wait for their next poll: `state` (the
 * cluster's pool state changed: read it now) and `wake` (messages were
 * created or retried: look for due ones now). Best effort: polling
 * (pool.stateSyncInterval, worker.workerJobInterval) stays the guarantee.
 */
export type Signal = 'state' | 'wake';

export interface ClusterSignals {
  readonly kind: 'postgres' | 'redis' | 'none';
  publish(signal: Signal): void;
  onSignal(handler: (signal: Signal) => void): void;
  close(): Promise<void>;
}

/** wakes are coalesced: one per this many ms at most, whatever the write rate */
const WAKE_COALESCE_MS = 5;
const RECONNECT_MS = 1000;

abstract class BaseSignals {
  protected handlers: Array<(s: Signal) => void> = [];
  private wakeTimer: NodeJS.Timeout | null = null;
  protected closed = false;

  onSignal(handler: (signal: Signal) => void): void {
    this.handlers.push(handler);
  }

  publish(signal: Signal): void {
    if (this.closed) return;
    if (signal === 'state') {
      this.send('state');
      return;
    }
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.send('wake');
    }, WAKE_COALESCE_MS);
    this.wakeTimer.unref();
  }

  protected deliver(payload: string): void {
    if (payload !== 'state' && payload !== 'wake') return;
    for (const h of this.handlers) h(payload);
  }

  protected stopTimers(): void {
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
  }

  protected abstract send(signal: Signal): void;
}

export class NoSignals extends BaseSignals implements ClusterSignals {
  readonly kind = 'none' as const;
  /** nobody to tell: not even the coalescing timer */
  override publish(): void {}
  protected send(): void {}
  async close(): Promise<void> {
    this.stopTimers();
  }
}

/** PostgreSQL LISTEN/NOTIFY on a channel per schema (nodes of another schema are another cluster). */
export class PgSignals extends BaseSignals implements ClusterSignals {
  readonly kind = 'postgres' as const;
  private listener: pg.Client | null = null;
  private readonly sender: pg.Pool;
  private readonly channel: string;
  private failing = false;
  private reconnect: NodeJS.Timeout | null = null;

  constructor(
    private readonly connectionString: string,
    schema: string,
    private readonly logger: Logger,
  ) {
    super();
    this.channel = `ms_signals_${schema}`.slice(0, 63);
    this.sender = new pg.Pool({ connectionString, max: 1 });
    this.sender.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', (n) => this.deliver(n.payload ?? ''));
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
      this.listener = client;
      if (this.failing) this.logger.info('cluster signals: listening again');
      this.failing = false;
    } catch (err) {
      client.end().catch(() => undefined);
      this.lost(client, err);
    }
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.listener === client) this.listener = null;
    if (this.closed || this.reconnect) return;
    if (!this.failing) {
      this.logger.warn({ err }, 'cluster signals: LISTEN connection lost; polling until it is back');
    }
    this.failing = true;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.listen();
    }, RECONNECT_MS);
    this.reconnect.unref();
  }

  protected send(signal: Signal): void {
    this.sender.query('SELECT pg_notify($1, $2)', [this.channel, signal]).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopTimers();
    if (this.reconnect) clearTimeout(this.reconnect);
    await this.listener?.end().catch(() => undefined);
    await this.sender.end().catch(() => undefined);
  }
}

/** Redis pub/sub, when REDIS_URI is set (any store): one channel per key prefix. */
export class RedisSignals extends BaseSignals implements ClusterSignals {
  readonly kind = 'redis' as const;
  private readonly sub: Redis;
  private readonly pub: Redis;

  constructor(
    config: RedisConfig,
    private readonly channel: string,
  ) {
    super();
    // a publish must not queue while disconnected: a lost push is made up by polling
    const options = { enableOfflineQueue: false, maxRetriesPerRequest: 0 };
    this.sub = redisClient(config, options);
    this.pub = redisClient(config, options);
    this.sub.on('message', (_channel: string, payload: string) => this.deliver(payload));
  }

  async start(): Promise<void> {
    await Promise.all([this.sub.connect(), this.pub.connect()]);
    // ioredis subscribes again by itself after a reconnect
    await this.sub.subscribe(this.channel);
  }

  protected send(signal: Signal): void {
    this.pub.publish(this.channel, signal).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopTimers();
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
