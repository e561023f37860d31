/**
 * A destination that answers 429 or 503 is slowed down (docs/decisions.md, "Failure handling per
 * destination"): its effective rate halves (from its `rate_limit`, or from the rate this node was
 * sending at, at least one a second, when it has none), at most once a second, and recovers by half again every
 * RECOVER_STEP_MS without such an answer, step by step, until it is back at its own limit (or at
 * the rate it was slowed from). A `Retry-After` holds its lane until then. The slowed rate is the
 * rate of its bucket, which Redis shares across nodes where configured.
 */
import type { LaneRate } from './lane-limits.js';

/** the rate grows by half each step without a 429 or 503 */
export const RECOVER_STEP_MS = 5000;
const GROWTH = 1.5;
/** not cut again for the answers of the same burst */
const CUT_EVERY_MS = 1000;
/** at least one request a minute (a probe of whether it may go faster) */
const FLOOR_PER_MS = 1 / 60_000;
/** a Retry-After longer than this holds the lane this long (the message still waits its whole delay) */
const MAX_HOLD_MS = 10 * 60_000;

interface Slowed {
  perMs: number;
  /** back to normal at this rate */
  ceiling: number;
  lastCut: number;
  lastStep: number;
}

export class SlowDown {
  private readonly slowed = new Map<string, Slowed>();
  private readonly holds = new Map<string, number>();

  /**
   * A 429 or 503 of destination `id`: `base` its own rate (null: none), `sendingPerMs` what this
   * node sent to it lately, `retryAfterMs` the answer's Retry-After.
   */
  cut(
    id: string,
    base: LaneRate | null,
    sendingPerMs: number,
    retryAfterMs: number | null,
    now: number,
  ): void {
    if (retryAfterMs !== null && retryAfterMs > 0) {
      const until = now + Math.min(retryAfterMs, MAX_HOLD_MS);
      if (until > (this.holds.get(id) ?? 0)) this.holds.set(id, until);
    }
    const s = this.slowed.get(id);
    if (s) {
      if (now - s.lastCut < CUT_EVERY_MS) return;
      this.step(s, now);
      s.perMs = Math.max(FLOOR_PER_MS, s.perMs / 2);
      s.lastCut = now;
      s.lastStep = now;
      return;
    }
    // from its own rate, or (none) from what it was sent at lately, at least one a second
    const ceiling = base ? base.perMs : Math.max(sendingPerMs, 1 / 1000);
    this.slowed.set(id, { perMs: Math.max(FLOOR_PER_MS, ceiling / 2), ceiling, lastCut: now, lastStep: now });
  }

  private step(s: Slowed, now: number): void {
    const steps = Math.floor((now - s.lastStep) / RECOVER_STEP_MS);
    if (steps <= 0) return;
    s.perMs = Math.min(s.ceiling, s.perMs * GROWTH ** steps);
    s.lastStep += steps * RECOVER_STEP_MS;
  }

  /** The lane's rate now: its own (`base`), or slower while slowed down; null: no bound. */
  rate(id: string, base: LaneRate | null, now: number): LaneRate | null {
    const s = this.slowed.get(id);
    if (!s) return base;
    this.step(s, now);
    if (s.perMs >= s.ceiling) {
      this.slowed.delete(id);
      return base;
    }
    // no burst while slowed: requests evenly spaced
    return { max: 1, perMs: s.perMs };
  }

  /** Requests per second while slowed down (null: not slowed). */
  perSecond(id: string, now: number): number | null {
    const s = this.slowed.get(id);
    if (!s) return null;
    this.step(s, now);
    return s.perMs >= s.ceiling ? null : s.perMs * 1000;
  }

  /** A Retry-After holds the lane until then (0: not held). */
  heldUntil(id: string, now: number): number {
    const until = this.holds.get(id) ?? 0;
    if (until <= now) {
      this.holds.delete(id);
      return 0;
    }
    return until;
  }
}
