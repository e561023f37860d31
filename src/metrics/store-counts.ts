import type { MessageStore } from '../store/store.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from './metrics.js';

/**
 * Every `everyMs`, the live node with the lowest id counts messages by status
 * and finds the oldest due one; the others clear those gauges. One bounded
 * count for the cluster per interval, never one per scrape, and a sum across
 * nodes does not double count.
 */
export class StoreCounts {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly o: {
      store: MessageStore;
      metrics: Metrics;
      nodeId: string;
      /** ids of the live nodes (the cluster's last view) */
      liveNodeIds: () => Promise<string[]>;
      everyMs: number;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.everyMs);
    this.timer.unref();
  }

  /** One count (tests call it directly). */
  tick(): Promise<void> {
    this.running ??= this.count().finally(() => (this.running = null));
    return this.running;
  }

  private async count(): Promise<void> {
    const { store, metrics } = this.o;
    try {
      const ids = await this.o.liveNodeIds();
      const leader = [...ids, this.o.nodeId].sort()[0];
      if (leader !== this.o.nodeId) {
        metrics.storeCounts(null, 0);
        return;
      }
      const [counts, due] = await Promise.all([store.countByStatus(), store.nextDueAt()]);
      const now = this.o.now?.() ?? Date.now();
      metrics.storeCounts(counts, due ? Math.max(0, (now - due.getTime()) / 1000) : 0);
    } catch (err) {
      this.o.logger.debug({ err }, 'metrics: message counts not read this interval');
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
