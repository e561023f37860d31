import type { Logger } from '../logging/logger.js';
import type { Cache } from '../cache/cache.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PoolEvents } from '../worker/events.js';

const CACHE_DROP_REPORT_MS = 10_000;

/**
 * Cache writes that fail are dropped (the store is the record). One warning
 * names the first message and the error; during an outage a summary follows
 * every `everyMs` instead of one line per message.
 */
class DropReporter {
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly logger: Logger,
    private readonly everyMs: number,
  ) {}

  add(messageId: string, error: string): void {
    if (this.timer) {
      this.count++;
      return;
    }
    this.logger.warn({ message_id: messageId, err: error }, 'cache write dropped');
    this.timer = setTimeout(() => this.report(), this.everyMs);
    this.timer.unref();
  }

  private report(): void {
    this.timer = null;
    if (this.count === 0) return;
    this.logger.warn({ dropped: this.count, seconds: this.everyMs / 1000 }, 'cache writes dropped');
    this.count = 0;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.report();
  }
}

/**
 * The original's cache write, `messageId → sent_at` with a TTL after each send, and the per-message
 * metrics: one listener on the pool's outcomes (an emitter with two copies its listener list per
 * event). The store is the truth; a failed cache write is counted, logged and dropped.
 */
export function writeOutcomes(
  events: PoolEvents,
  cache: Cache,
  ttlMs: number,
  metrics: Metrics | null,
  logger: Logger,
): { close(): void } {
  const dropped = new DropReporter(logger, CACHE_DROP_REPORT_MS);
  const writes = cache.kind !== 'none';
  events.on('outcome', (e) => {
    metrics?.outcome(e);
    if (!writes || e.outcome.kind !== 'sent' || !e.applied || !e.outcome.webhookResponseMessageId) return;
    cache
      .set(e.outcome.webhookResponseMessageId, e.outcome.sentAt.toISOString(), ttlMs)
      .catch((err: unknown) => {
        metrics?.cacheWriteDropped();
        dropped.add(e.message.id, (err as Error).message);
      });
  });
  return { close: () => dropped.close() };
}
