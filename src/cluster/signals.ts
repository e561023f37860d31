import type { Logger } from '../logging/logger.js';
import type { SignalTransport } from '../store/signal-transport.js';

/**
 * Pushes between nodes, so they need not wait for their next poll: `state` (the
 * cluster's pool state changed: read it now) and `wake` (messages were
 * created or retried: look for due ones now). Best effort: polling
 * (pool.stateSyncInterval, worker.workerJobInterval) stays the guarantee.
 */
/** `state`: the pool's state changed; `wake`: messages were added; `destinations`: a destination changed */
export type Signal = 'state' | 'wake' | 'destinations';

export interface ClusterSignals {
  readonly kind: 'postgres' | 'redis' | 'none';
  publish(signal: Signal): void;
  onSignal(handler: (signal: Signal) => void): void;
  close(): Promise<void>;
}

/** wakes are coalesced: one per this many ms at most, whatever the write rate */
const WAKE_COALESCE_MS = 5;
const RECONNECT_MS = 1000;

export class NoSignals implements ClusterSignals {
  readonly kind = 'none' as const;
  /** nobody to tell */
  publish(): void {}
  onSignal(): void {}
  async close(): Promise<void> {}
}

/**
 * Signals over a transport (PostgreSQL LISTEN/NOTIFY from the store, or Redis pub/sub): wakes
 * coalesced, a lost subscription taken again every second (logged once while it is down).
 */
export class TransportSignals implements ClusterSignals {
  private readonly handlers: Array<(s: Signal) => void> = [];
  private wakeTimer: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private failing = false;
  private closed = false;

  constructor(
    private readonly transport: SignalTransport,
    private readonly logger: Logger,
  ) {}

  get kind(): 'postgres' | 'redis' {
    return this.transport.kind;
  }

  /** Subscribes; rejects when the transport cannot subscribe now. */
  async start(): Promise<void> {
    await this.transport.subscribe(
      (payload) => this.deliver(payload),
      (err) => this.lost(err),
    );
  }

  onSignal(handler: (signal: Signal) => void): void {
    this.handlers.push(handler);
  }

  publish(signal: Signal): void {
    if (this.closed) return;
    if (signal !== 'wake') {
      this.transport.send(signal);
      return;
    }
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.transport.send('wake');
    }, WAKE_COALESCE_MS);
    this.wakeTimer.unref();
  }

  private deliver(payload: string): void {
    if (payload !== 'state' && payload !== 'wake' && payload !== 'destinations') return;
    for (const h of this.handlers) h(payload);
  }

  private lost(err?: unknown): void {
    if (this.closed || this.reconnect) return;
    if (!this.failing) {
      this.logger.warn({ err }, `cluster signals: ${this.kind} subscription lost; polling until it is back`);
    }
    this.failing = true;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      this.start().then(
        () => {
          if (this.failing) this.logger.info('cluster signals: listening again');
          this.failing = false;
        },
        (e: unknown) => this.lost(e),
      );
    }, RECONNECT_MS);
    this.reconnect.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.reconnect) clearTimeout(this.reconnect);
    await this.transport.close();
  }
}
