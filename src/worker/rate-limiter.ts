/**
 * The delivery gate. The pool takes tokens before it claims, so it never holds
 * a claimed message while waiting for a token. A Redis implementation (cluster
 * wide) can implement the same interface.
 */
export interface RateLimiter {
  /** Takes up to `wanted` tokens; returns how many it got. */
  take(wanted: number, now: number): number;
  /** Returns tokens taken but not used (fewer messages were due). */
  giveBack(count: number): void;
  /** Milliseconds until at least one token is there (0 if one is). */
  msUntilToken(now: number): number;
}

/** No limit. */
export class UnlimitedRateLimiter implements RateLimiter {
  take(wanted: number): number {
    return wanted;
  }
  giveBack(): void {}
  msUntilToken(): number {
    return 0;
  }
}

/**
 * The original's token bucket: `maxTokens` at most, `refillRate` tokens added
 * every `refillIntervalMs` (in steps, as the original's ticker did).
 */
export class TokenBucket implements RateLimiter {
  private tokens: number;
  private lastRefill: number;

  constructor(
    private readonly maxTokens: number,
    private readonly refillRate: number,
    private readonly refillIntervalMs: number,
    now: number,
  ) {
    this.tokens = maxTokens;
    this.lastRefill = now;
  }

  private refill(now: number): void {
    const steps = Math.floor((now - this.lastRefill) / this.refillIntervalMs);
    if (steps <= 0) return;
    this.tokens = Math.min(this.maxTokens, this.tokens + steps * this.refillRate);
    this.lastRefill += steps * this.refillIntervalMs;
  }

  take(wanted: number, now: number): number {
    this.refill(now);
    const got = Math.max(0, Math.min(wanted, this.tokens));
    this.tokens -= got;
    return got;
  }

  giveBack(count: number): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + count);
  }

  msUntilToken(now: number): number {
    this.refill(now);
    if (this.tokens > 0) return 0;
    return this.lastRefill + this.refillIntervalMs - now;
  }
}
