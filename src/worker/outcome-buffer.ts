import type { Logger } from '../logging/logger.js';
import { sleepOn, type Clock } from '../domain/clock.js';
import type { ClaimedMessage, Completion, MessageStore, Outcome } from '../store/store.js';
import { isRefusedValue, refusal } from '../store/store-errors.js';

/** A delivery's outcome on its way to the store, with the message it belongs to. */
export interface PendingOutcome {
  completion: Completion;
  message: ClaimedMessage;
}

export interface OutcomeBufferOptions {
  store: Pick<MessageStore, 'complete'>;
  clock: Clock;
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

/** What an outcome records instead of a text the store refused. */
export const REFUSED_TEXT_NOTE =
  "the store refused this outcome's text (the receiver's reply or error); it is not recorded";

/**
 * The outcome with no text that came from outside (the receiver's reply and errors): what can
 * still be recorded when the store refuses the outcome as it was.
 */
export function withoutOutsideText(c: Completion): Completion {
  const o = c.outcome;
  const outcome: Outcome =
    o.kind === 'sent'
      ? { ...o, webhookResponseMessageId: null }
      : o.kind === 'invalid_content'
        ? { ...o, reason: REFUSED_TEXT_NOTE }
        : o.kind === 'unknown'
          ? { ...o, error: `outcome unknown: ${REFUSED_TEXT_NOTE}` }
          : { ...o, error: REFUSED_TEXT_NOTE };
  const attempt = c.attempt && { ...c.attempt, error: c.attempt.error === null ? null : REFUSED_TEXT_NOTE };
  return { ...c, outcome, attempt };
}

/**
 * The outcomes not yet stored. A claim round usually takes them and stores them in the same
 * transaction as its claim; when none comes within `flushAfterMs`, a flush stores them alone.
 * A batch the store could not write (it is down) goes back first in line, and a flush retries
 * it: the leases keep other nodes off the messages meanwhile. A batch the store refused for a
 * value (isRefusedValue) is set apart: no claim round takes it again, and a flush writes it one
 * outcome at a time, so one outcome the store refuses never holds back the others
 * (docs/decisions.md, "A row a store refuses holds back nothing else").
 */
export class OutcomeBuffer {
  private pending: PendingOutcome[] = [];
  /** outcomes of batches the store refused for a value: written one at a time by flush() */
  private apart: PendingOutcome[] = [];
  /** batches in a store call right now (claim rounds' and a flush's) */
  private readonly writing = new Set<PendingOutcome[]>();
  private flushing: Promise<void> | null = null;
  private timer: unknown = null;
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
    if (this.timer !== null) {
      this.o.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.writing.add(batch);
    return batch;
  }

  /** The store call of a batch from take() ended, stored or not. */
  written(batch: PendingOutcome[]): void {
    this.writing.delete(batch);
  }

  /**
   * The store did not take a batch from take() (`err`): first in line again, or set apart when
   * it refused a value; flushed even if no round follows (a pause).
   */
  putBack(batch: PendingOutcome[], err: unknown): void {
    this.writing.delete(batch);
    if (batch.length > 0 && isRefusedValue(err)) this.setApart(batch, err);
    else this.pending = batch.concat(this.pending);
    if (this.pending.length > 0 || this.apart.length > 0) this.arm();
  }

  private setApart(batch: PendingOutcome[], err: unknown): void {
    this.apart.push(...batch);
    this.o.logger.warn(
      { count: batch.length, err: refusal(err) },
      'the store refused a value in a batch of delivery outcomes: writing them one at a time',
    );
  }

  /** Outcomes not stored yet: waiting, set apart and being written. */
  get unstored(): number {
    let n = this.pending.length + this.apart.length;
    for (const batch of this.writing) n += batch.length;
    return n;
  }

  /** The ids of the messages those outcomes belong to. */
  messageIds(): string[] {
    return [...this.pending, ...this.apart, ...[...this.writing].flat()].map((p) => p.message.id);
  }

  /** Stores what waits in one batch; a batch in progress is followed by the next. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0 && this.apart.length === 0) return Promise.resolve();
    this.flushing = this.flushAll().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** No timed flush from now on (shutdown: the last flush is awaited by the caller). */
  cancelTimer(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer ??= this.o.clock.setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushAfterMs);
  }

  private async flushAll(): Promise<void> {
    while (this.pending.length > 0 || this.apart.length > 0) {
      if (this.apart.length > 0) {
        if (await this.writeApart()) continue;
      } else {
        const batch = this.take();
        let applied: string[] | null = null;
        try {
          applied = await this.write(batch.map((b) => b.completion));
        } catch (err) {
          if (isRefusedValue(err)) {
            this.setApart(batch, err);
            continue;
          }
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
      }
      if (this.o.giveUp()) break;
      await sleepOn(this.o.clock, this.retryAfterMs);
    }
  }

  private write(completions: Completion[]): Promise<string[]> {
    return this.o.store.complete(completions, new Date(this.o.clock.now()));
  }

  /**
   * Writes the outcomes set apart one at a time: one the store refuses is written again without
   * the texts that came from outside, and if even that is refused it is dropped, logged once
   * (its lease expires and recovery hands the message out again). False when the store could not
   * be written at all (it is down): the rest wait for the next try.
   */
  private async writeApart(): Promise<boolean> {
    while (this.apart.length > 0) {
      const item = this.apart[0] as PendingOutcome;
      const one = [item];
      this.writing.add(one);
      try {
        const stored = await this.writeOne(item);
        if (stored === 'down') return false;
        this.apart.shift();
        if (stored !== null) this.o.onStored([stored.outcome], stored.applied);
      } finally {
        this.writing.delete(one);
      }
    }
    return true;
  }

  /** One outcome as it is, else without outside text; null: the store refuses both (dropped). */
  private async writeOne(
    item: PendingOutcome,
  ): Promise<{ outcome: PendingOutcome; applied: string[] } | null | 'down'> {
    const log = this.o.logger.child({ message_id: item.message.id });
    let current = item;
    for (const reduced of [false, true]) {
      if (reduced) current = { ...item, completion: withoutOutsideText(item.completion) };
      try {
        const applied = await this.write([current.completion]);
        if (reduced) log.warn("outcome stored without the receiver's texts, which the store refused");
        return { outcome: current, applied };
      } catch (err) {
        if (!isRefusedValue(err)) {
          log.error({ err }, 'could not store a delivery outcome; retrying');
          return 'down';
        }
        if (reduced) {
          log.error(
            { err: refusal(err), outcome: item.completion.outcome.kind },
            'the store refuses the outcome of this message; it is left to lease recovery',
          );
        }
      }
    }
    return null;
  }
}
