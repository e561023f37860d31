import type { BucketPolicy, KeyedBuckets } from './token-bucket.js';

/** What one request's take says: the headers every answer carries, and a refusal (429) or none. */
export interface ApiTake {
  headers: { ratelimit: string; 'ratelimit-policy': string };
  refused: { retryAfterS: number; message: string } | null;
}

/**
 * The API's per-client limit (apiRateLimiter.*): a token bucket per client (its key, token or
 * address; keyed by api/access.ts), in this process or one for the cluster in Redis
 * (redis-buckets.ts). A request costs tokens (a large page costs more); every answer says where
 * the client stands in the IETF RateLimit fields (`RateLimit`, `RateLimit-Policy`), and a refusal
 * says when to come back (`Retry-After`). docs/decisions.md, "Rate limiting".
 */
export class ApiLimiter {
  /** `"api";q=<burst>;w=<seconds to refill from empty>` */
  readonly policyHeader: string;

  constructor(
    readonly buckets: KeyedBuckets,
    readonly policy: BucketPolicy,
  ) {
    const refillS = (policy.maxTokens * policy.refillIntervalMs) / policy.refillRate / 1000;
    this.policyHeader = `"api";q=${policy.maxTokens};w=${Math.max(1, Math.ceil(refillS))}`;
  }

  /** Takes `cost` tokens (at most a full bucket) of `bucket`. */
  async take(bucket: string, cost: number): Promise<ApiTake> {
    const p = this.policy;
    const r = await this.buckets.take(bucket, Math.min(cost, p.maxTokens));
    const headers = {
      ratelimit: `"api";r=${r.remaining};t=${Math.ceil(r.fullInMs / 1000)}`,
      'ratelimit-policy': this.policyHeader,
    };
    if (r.allowed) return { headers, refused: null };
    const retryAfterS = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    return {
      headers,
      refused: {
        retryAfterS,
        message: `too many requests from this client (apiRateLimiter: ${p.maxTokens} at once, ${p.refillRate} per ${p.refillIntervalMs} ms); retry in ${retryAfterS} s`,
      },
    };
  }

  close(): Promise<void> {
    return this.buckets.close();
  }
}
