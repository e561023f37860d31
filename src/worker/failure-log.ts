import type { Logger } from '../logging/logger.js';

/** What happened to a message that was not delivered this time. */
export type FailureKind = 'retry' | 'failed' | 'invalid_content';

/**
 * One `warn` line per retry, failure or refused message, at most `perWindow`
 * of each kind per `windowMs`: a receiver that is down cannot flood the log.
 * What a window held back is counted in one line when the next one begins
 * (or at close). Every attempt is still logged at debug level.
 */
export class FailureLog {
  private windowStart = Number.NEGATIVE_INFINITY;
  private readonly logged = new Map<FailureKind, number>();
  private readonly held = new Map<FailureKind, number>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly windowMs = 10_000,
    private readonly perWindow = 5,
  ) {}

  note(kind: FailureKind, fields: Record<string, unknown>, msg: string): void {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
    }
    const n = this.logged.get(kind) ?? 0;
    if (n < this.perWindow) {
      this.logged.set(kind, n + 1);
      this.log.warn({ outcome: kind, ...fields }, msg);
    } else this.held.set(kind, (this.held.get(kind) ?? 0) + 1);
  }

  /** The count of what the window held back, one line per kind; a new window begins. */
  flush(): void {
    for (const [kind, count] of this.held) {
      this.log.warn(
        { outcome: kind, not_logged: count, window_ms: this.windowMs },
        `${count} more deliveries with outcome ${kind} were not logged one by one (at most ${this.perWindow} per ${this.windowMs / 1000} s; all at debug level)`,
      );
    }
    this.held.clear();
    this.logged.clear();
  }
}
