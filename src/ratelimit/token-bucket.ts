/**
 * Keyed token buckets: one bucket per key (an API client), each holding at
 * most `maxTokens` and refilled continuously at `refillRate` per
 * `refillIntervalMs`. A take is all or nothing. The memory implementation
 * serves one process; the Redis one (redis-buckets.ts) is shared by every node.
 */
export interface BucketPolicy {
  maxTokens: number;
  refillRate: number;
  refillIntervalMs: number;
}

export interface TakeResult {
  allowed: boolean;
  /** tokens left after this take (whole tokens) */
  remaining: number;
  /** when denied: milliseconds until `cost` tokens are there */
  retryAfterMs: number;
  /** milliseconds until the bucket is full again */
  fullInMs: number;
}

export interface KeyedBuckets {
  readonly kind: 'memory' | 'redis';
  take(key: string, cost: number): Promise<TakeResult>;
  close(): Promise<void>;
}

/** tokens per millisecond */
export const ratePerMs = (p: BucketPolicy): number => p.refillRate / p.refillIntervalMs;

/** The one bucket arithmetic, shared by the memory buckets and (in Lua) the Redis script. */
export function takeFrom(
  p: BucketPolicy,
  state: { tokens: number; at: number } | undefined,
  cost: number,
  now: number,
): { state: { tokens: number; at: number }; result: TakeResult } {
  const rate = ratePerMs(p);
  let tokens = state ? Math.min(p.maxTokens, state.tokens + Math.max(0, now - state.at) * rate) : p.maxTokens;
  const allowed = tokens >= cost;
  if (allowed) tokens -= cost;
  return {
    state: { tokens, at: Math.max(now, state?.at ?? now) },
    result: resultOf(p, allowed, tokens, cost),
  };
}

export function resultOf(p: BucketPolicy, allowed: boolean, tokens: number, cost: number): TakeResult {
  const rate = ratePerMs(p);
  return {
    allowed,
    remaining: Math.floor(tokens),
    retryAfterMs: allowed ? 0 : Math.ceil((cost - tokens) / rate),
    fullInMs: Math.ceil((p.maxTokens - tokens) / rate),
  };
}

/** The most buckets kept in memory; past it, the buckets that are full again are dropped. */
const MAX_KEYS = 100_000;

export class MemoryBuckets implements KeyedBuckets {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly policy: BucketPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  async take(key: string, cost: number): Promise<TakeResult> {
    return this.takeNow(key, cost);
  }

  takeNow(key: string, cost: number): TakeResult {
    const now = this.now();
    const { state, result } = takeFrom(this.policy, this.buckets.get(key), cost, now);
    if (!this.buckets.has(key) && this.buckets.size >= MAX_KEYS) this.sweep(now);
    this.buckets.set(key, state);
    return result;
  }

  /** Drops the buckets that have refilled: a full bucket and no bucket are the same. */
  private sweep(now: number): void {
    const rate = ratePerMs(this.policy);
    for (const [k, s] of this.buckets) {
      if (s.tokens + (now - s.at) * rate >= this.policy.maxTokens) this.buckets.delete(k);
    }
  }

  get size(): number {
    return this.buckets.size;
  }

  async close(): Promise<void> {}
}
