import { DEFAULT_DESTINATION_ID } from '../domain/destination.js';
/**
 * The delivery gate. The pool takes tokens before it claims, so it never holds
 * a claimed message while waiting for a token. Asynchronous and keyed: the key
 * names a destination (one today, `DEFAULT_DESTINATION`), and a cluster-wide
 * implementation (Redis, src/ratelimit/redis-delivery-limiter.ts) answers over
 * the network.
 */
export interface Grant {
  /** tokens granted, 0..wanted */
  tokens: number;
  /** when none was granted: milliseconds until one is there */
  waitMs: number;
}

export interface RateLimiter {
  take(key: string, wanted: number, now: number): Grant | Promise<Grant>;
  /** Returns tokens taken but not used (fewer messages were due). */
  giveBack(key: string, count: number): void;
  /** Tokens there to take now, as this node knows (the metrics gauge); absent: no limit. */
  tokens?(key: string, now: number): number;
}

/** The one destination there is today: the configured webhook. */
export const DEFAULT_DESTINATION = DEFAULT_DESTINATION_ID;

/** The bucket's settings, as config keys rateLimiter.* give them. */
export interface StepPolicy {
  maxTokens: number;
  refillRate: number;
  refillIntervalMs: number;
}

/** No limit. */
export class UnlimitedRateLimiter implements RateLimiter {
  take(_key: string, wanted: number): Grant {
    return { tokens: wanted, waitMs: 0 };
  }
  giveBack(): void {}
}

/**
 * The original's token bucket: `maxTokens` at most, `refillRate` tokens added
 * every `refillIntervalMs` (in steps, as the original's ticker did). Whole
 * tokens are granted; a fractional rate (a share of the cluster's) accumulates.
 */
export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(
    readonly maxTokens: number,
    readonly refillRate: number,
    readonly refillIntervalMs: number,
    now: number,
    initial = maxTokens,
  ) {
    this.tokens = initial;
    this.lastRefill = now;
  }

  private refill(now: number): void {
    const steps = Math.floor((now - this.lastRefill) / this.refillIntervalMs);
    if (steps <= 0) return;
    this.tokens = Math.min(this.maxTokens, this.tokens + steps * this.refillRate);
    this.lastRefill += steps * this.refillIntervalMs;
  }

  take(wanted: number, now: number): Grant {
    this.refill(now);
    const got = Math.max(0, Math.min(wanted, Math.floor(this.tokens)));
    this.tokens -= got;
    return { tokens: got, waitMs: got > 0 ? 0 : this.msUntilToken(now) };
  }

  giveBack(count: number): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + count);
  }

  msUntilToken(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    const steps = Math.max(1, Math.ceil((1 - this.tokens) / this.refillRate));
    return this.lastRefill + steps * this.refillIntervalMs - now;
  }

  /** tokens there now (after the refill due) */
  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }
}

/** One process's buckets, one per destination. */
export class LocalRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly policy: StepPolicy,
    private readonly clock: () => number = Date.now,
    /** new buckets start empty (a fallback taking over mid-interval must add no burst) */
    private readonly startEmpty = false,
  ) {}

  bucket(key: string, now = this.clock()): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = new TokenBucket(
        this.policy.maxTokens,
        this.policy.refillRate,
        this.policy.refillIntervalMs,
        now,
        this.startEmpty ? 0 : this.policy.maxTokens,
      );
      this.buckets.set(key, b);
    }
    return b;
  }

  take(key: string, wanted: number, now: number): Grant {
    return this.bucket(key, now).take(wanted, now);
  }

  giveBack(key: string, count: number): void {
    this.buckets.get(key)?.giveBack(count);
  }

  tokens(key: string, now: number): number {
    return Math.floor(this.bucket(key, now).level(now));
  }
}

/**
 * The cluster's rate without a shared bucket: each of the `shares()` live
 * delivering nodes gets an equal part (maxTokens and refillRate divided, the
 * burst at least one token). Rebuilt when the number of nodes changes. With
 * fewer tokens than nodes the burst cannot be divided exactly: each node
 * keeps one (docs/decisions.md, "One rate limit for the cluster").
 */
export class SharedOutRateLimiter implements RateLimiter {
  private current: LocalRateLimiter;
  private n: number;

  constructor(
    private readonly policy: StepPolicy,
    private readonly shares: () => number,
    /** a fallback: its buckets start empty, so taking over adds no burst to what was granted */
    private readonly startEmpty = false,
  ) {
    // the count is asked for at each take, not here: the cluster may not exist yet
    this.n = 1;
    this.current = this.build(this.n);
  }

  private build(n: number): LocalRateLimiter {
    return new LocalRateLimiter(
      {
        maxTokens: Math.max(1, Math.floor(this.policy.maxTokens / n)),
        refillRate: this.policy.refillRate / n,
        refillIntervalMs: this.policy.refillIntervalMs,
      },
      Date.now,
      this.startEmpty,
    );
  }

  /** Forgets the buckets: the next take starts a new (empty, for a fallback) one. */
  reset(): void {
    this.current = this.build(this.n);
  }

  get nodes(): number {
    return this.n;
  }

  take(key: string, wanted: number, now: number): Grant {
    const n = Math.max(1, this.shares());
    if (n !== this.n) {
      // a new share: start from the old bucket's level, scaled, never above the new size
      const scaled = (this.current.bucket(key, now).level(now) * this.n) / n;
      this.n = n;
      this.current = this.build(n);
      const b = this.current.bucket(key, now);
      b.take(Math.max(0, Math.floor(b.maxTokens - Math.min(b.maxTokens, scaled))), now);
    }
    return this.current.take(key, wanted, now);
  }

  giveBack(key: string, count: number): void {
    this.current.giveBack(key, count);
  }

  tokens(key: string, now: number): number {
    return this.current.tokens(key, now);
  }
}
