import type { Logger } from '../logging/logger.js';
import type { ClaimedMessage } from '../store/store.js';
import type { PoolEvents } from './events.js';
import type { PendingOutcome } from './outcome-buffer.js';
import type { PoolCounts } from './pool-options.js';

/**
 * What a pool has done since it started, counted once stored, and told to the listeners of its
 * events (the metrics, the delivery cache): each claim, and each outcome with whether it was stored.
 */
export class OutcomeReport {
  private readonly counts: PoolCounts = {
    claimed: 0,
    sent: 0,
    retried: 0,
    failed: 0,
    invalid_content: 0,
    unknown: 0,
    lost_lease: 0,
    rounds: 0,
  };

  constructor(
    private readonly events: PoolEvents,
    private readonly log: Logger,
  ) {}

  stats(): PoolCounts {
    return { ...this.counts };
  }

  claimed(messages: ClaimedMessage[]): void {
    this.counts.claimed += messages.length;
    this.events.emit('claimed', messages);
  }

  /** A claim round reached the store with the outcomes of `batch`. */
  round(batch: PendingOutcome[], appliedIds: string[]): void {
    this.counts.rounds++;
    this.stored(batch, appliedIds);
  }

  /** Tells listeners what happened to each outcome of a batch that reached the store. */
  stored(batch: PendingOutcome[], appliedIds: string[]): void {
    if (batch.length === 0) return;
    const applied = new Set(appliedIds);
    for (const b of batch) {
      const ok = applied.has(b.message.id);
      if (!ok) {
        this.counts.lost_lease++;
        this.log.warn({ message_id: b.message.id }, 'outcome not stored: the lease was lost');
      } else {
        const kind = b.completion.outcome.kind;
        this.counts[kind === 'retry' ? 'retried' : kind]++;
      }
      this.events.emit('outcome', {
        message: b.message,
        outcome: b.completion.outcome,
        attempt: b.completion.attempt,
        applied: ok,
      });
    }
  }
}
