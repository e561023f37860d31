/**
 * A destination's own limits across the cluster: its token bucket (`rate_limit`) and its bound of
 * requests in flight (`max_in_flight`). With Redis one bucket and one count per destination serve
 * every node (redis-lane-limits.ts); without it each node takes its share, the limit divided by
 * the live delivering nodes, as the global delivery limit does (docs/decisions.md).
 */
import type { Destination } from '../domain/destination.js';

/** A bucket refilled continuously: at most `max` tokens, `perMs` tokens added each millisecond. */
export interface LaneRate {
  max: number;
  perMs: number;
}

export function laneRate(d: Pick<Destination, 'rate_limit'>): LaneRate | null {
  const r = d.rate_limit;
  if (!r) return null;
  return { max: Math.max(1, r.burst), perMs: r.limit / r.period_ms };
}

export interface LaneGrant {
  tokens: number;
  /** when none was granted: milliseconds until one is there */
  waitMs: number;
}

export interface LaneLimits {
  /** Up to `wanted` tokens of destination `id`'s bucket. */
  take(id: string, rate: LaneRate, wanted: number): LaneGrant | Promise<LaneGrant>;
  /** Tokens taken but not used (fewer messages were due). */
  giveBack(id: string, rate: LaneRate, count: number): void;
  /** Up to `wanted` of the destination's `max` slots in flight; each is held until released. */
  acquire(id: string, max: number, wanted: number): number | Promise<number>;
  release(id: string, count: number): void;
  /** slots this node holds now (health, tests) */
  held(id: string): number;
  close?(): Promise<void>;
}

/** One bucket, refilled continuously; a take may be partial. */
export class LaneBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: LaneRate,
    now: number,
    initial = rate.max,
  ) {
    this.tokens = initial;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.rate.max, this.tokens + (now - this.at) * this.rate.perMs);
      this.at = now;
    }
  }

  take(wanted: number, now: number): LaneGrant {
    this.refill(now);
    const got = Math.max(0, Math.min(wanted, Math.floor(this.tokens)));
    this.tokens -= got;
    return { tokens: got, waitMs: got > 0 ? 0 : Math.max(1, Math.ceil((1 - this.tokens) / this.rate.perMs)) };
  }

  giveBack(count: number): void {
    this.tokens = Math.min(this.rate.max, this.tokens + count);
  }

  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }
}

/** A rate divided among `n` nodes (the burst at least one token). */
export function shareOf(rate: LaneRate, n: number): LaneRate {
  return { max: Math.max(1, Math.floor(rate.max / n)), perMs: rate.perMs / n };
}

/** A bound divided among `n` nodes: at least one each (so no destination stalls; documented). */
export function slotsOf(max: number, n: number): number {
  return Math.max(1, Math.floor(max / n));
}

/**
 * Without Redis: this node's share of each destination's limits, the live delivering nodes
 * (`nodes()`) dividing them. A bucket is made again when its rate or the number of nodes changes,
 * starting from its level scaled, never above the new size.
 */
export class SharedLaneLimits implements LaneLimits {
  private readonly buckets = new Map<string, { bucket: LaneBucket; max: number; perMs: number; n: number }>();
  private readonly slots = new Map<string, number>();

  constructor(
    private readonly nodes: () => number,
    private readonly clock: () => number = Date.now,
    /** a fallback: new buckets start empty, so taking over adds no burst */
    private readonly startEmpty = false,
  ) {}

  private bucket(id: string, rate: LaneRate): LaneBucket {
    const n = Math.max(1, this.nodes());
    const now = this.clock();
    const b = this.buckets.get(id);
    if (b && b.max === rate.max && b.perMs === rate.perMs && b.n === n) return b.bucket;
    const share = shareOf(rate, n);
    const initial = b
      ? Math.min(share.max, (b.bucket.level(now) * b.n) / n)
      : this.startEmpty
        ? 0
        : share.max;
    const bucket = new LaneBucket(share, now, initial);
    this.buckets.set(id, { bucket, max: rate.max, perMs: rate.perMs, n });
    return bucket;
  }

  take(id: string, rate: LaneRate, wanted: number): LaneGrant {
    return this.bucket(id, rate).take(wanted, this.clock());
  }

  giveBack(id: string, rate: LaneRate, count: number): void {
    if (count > 0) this.bucket(id, rate).giveBack(count);
  }

  acquire(id: string, max: number, wanted: number): number {
    const mine = this.slots.get(id) ?? 0;
    const got = Math.max(0, Math.min(wanted, slotsOf(max, Math.max(1, this.nodes())) - mine));
    if (got > 0) this.slots.set(id, mine + got);
    return got;
  }

  release(id: string, count: number): void {
    const left = (this.slots.get(id) ?? 0) - count;
    if (left > 0) this.slots.set(id, left);
    else this.slots.delete(id);
  }

  held(id: string): number {
    return this.slots.get(id) ?? 0;
  }

  /** Forgets the buckets (a fallback taking over again starts from nothing). */
  reset(): void {
    this.buckets.clear();
  }
}
