import type { Logger } from '../logging/logger.js';
import type { ClaimedMessage, Completion, MessageStore } from '../store/store.js';

/** A delivery's outcome on its way to the store, with the message it belongs to. */
export interface PendingOutcome {
  completion: Completion;
  message: ClaimedMessage;
}

export interface OutcomeBufferOptions {
  store: Pick<MessageStore, 'complete'>;
  now: () => number;
  logger: Logger;
  /** a batch reached the store; `applied`: the ids stored (the others' leases had passed to another node) */
  onStored(batch: PendingOutcome[], applied: string[]): void;
  /** a flush that cannot store stops retrying when this says so (shutting down, nothing in flight) */
  giveUp(): boolean;
  /** how long an outcome waits for a claim round before a flush stores it alone (default 10 ms) */
  flushAfterMs?: number;
  /** the wait before a flush tries a failed batch again (default 1 s) */
  retryAfterMs?: number;
}

/**
 * The outcomes not yet stored. A claim round usually takes them and stores them in the same
 * transaction as its claim; when none comes within `flushAfterMs`, a flush stores them alone.
 * A batch the store refused goes back first in line, and a flush retries it: the leases keep
 * other nodes off the messages meanwhile.
 */
export class OutcomeBuffer {
  private pending: PendingOutcome[] = [];
  /** batches in a store call right now (claim rounds' and a flush's) */
  private readonly writing = new Set<PendingOutcome[]>();
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushAfterMs: number;
  private readonly retryAfterMs: number;

  constructor(private readonly o: OutcomeBufferOptions) {
    this.flushAfterMs = o.flushAfterMs ?? 10;
    this.retryAfterMs = o.retryAfterMs ?? 1000;
  }

  add(outcome: PendingOutcome): void {
    this.pending.push(outcome);
    // the next claim round usually stores it; if none comes soon, a flush does
    this.arm();
  }

  /** What waits, for a claim round to store; being written until `written()`. */
  take(): PendingOutcome[] {
    const batch = this.pending;
    this.pending = [];
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.writing.add(batch);
    return batch;
  }

  /** The store call of a batch from take() ended, stored or not. */
  written(batch: PendingOutcome[]): void {
    this.writing.delete(batch);
  }

  /** The store refused a batch from take(): first in line again, and flushed even if no round follows (a pause). */
  putBack(batch: PendingOutcome[]): void {
    this.writing.delete(batch);
    this.pending = batch.concat(this.pending);
    if (this.pending.length > 0) this.arm();
  }

  /** Outcomes not stored yet: waiting and being written. */
  get unstored(): number {
    let n = this.pending.length;
    for (const batch of this.writing) n += batch.length;
    return n;
  }

  /** The ids of the messages those outcomes belong to. */
  messageIds(): string[] {
    return [...this.pending, ...[...this.writing].flat()].map((p) => p.message.id);
  }

  /** Stores what waits in one batch; a batch in progress is followed by the next. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    this.flushing = this.flushAll().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** No timed flush from now on (shutdown: the last flush is awaited by the caller). */
  cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushAfterMs);
  }

  private async flushAll(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.take();
      let applied: string[] | null = null;
      try {
        applied = await this.o.store.complete(
          batch.map((b) => b.completion),
          new Date(this.o.now()),
        );
      } catch (err) {
        this.o.logger.error({ err, count: batch.length }, 'could not store delivery outcomes; retrying');
      } finally {
        this.written(batch);
      }
      if (applied) {
        this.o.onStored(batch, applied);
        continue;
      }
      // keep them: the store may be back soon; the leases protect against double work meanwhile
      this.pending = batch.concat(this.pending);
      if (this.o.giveUp()) break;
      await new Promise((r) => setTimeout(r, this.retryAfterMs));
    }
  }
}
