import type { Redis } from 'ioredis';
import { FAIL_FAST, redisClient, script } from '../redis/redis-client.js';
import type { RedisConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import {
  MemoryBuckets,
  ratePerMs,
  resultOf,
  type BucketPolicy,
  type KeyedBuckets,
  type TakeResult,
} from './token-bucket.js';

/**
 * Refill and take in one atomic script, on Redis' clock (TIME), so every node
 * draws on the same bucket whatever its own clock says. The bucket is a hash
 * {t: tokens, at: ms} that expires once it would be full again.
 */
/**
 * The refill both continuous buckets share (this one, all or nothing, and a destination's,
 * destinations/redis-lane-limits.ts, partial): reads `max` (ARGV[1]) and `rate` per ms (ARGV[2]),
 * Redis' `now`, and the bucket's `tokens` refilled up to it.
 */
export const REFILL_LUA = `
local max = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(v[1])
local at = tonumber(v[2])
if tokens == nil or at == nil then
  tokens = max
  at = now
end
if now > at then
  tokens = math.min(max, tokens + (now - at) * rate)
  at = now
end
`;

const TAKE = `${REFILL_LUA}
local cost = tonumber(ARGV[3])
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((max - tokens) / rate) + 1000)
return {allowed, tostring(tokens)}
`;

type TakeReply = [number, string];

/**
 * Buckets in Redis, shared by every node. When Redis does not answer (within
 * 250 ms), the node decides alone from a local bucket of the same policy until
 * Redis answers again: a client may then get up to one bucket per node, which
 * is logged; refusing every request during a cache outage would be worse.
 */
export class RedisBuckets implements KeyedBuckets {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly takeToken: ReturnType<typeof script>;
  private readonly fallback: MemoryBuckets;
  private degraded = false;

  constructor(
    config: RedisConfig,
    private readonly policy: BucketPolicy,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    // a request must not wait for a reconnect: fail at once and use the local bucket
    this.redis = redisClient(config, { ...FAIL_FAST, enableAutoPipelining: true });
    this.takeToken = script(this.redis, 'msTakeToken', 1, TAKE);
    this.fallback = new MemoryBuckets(policy);
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  async take(key: string, cost: number): Promise<TakeResult> {
    try {
      const [allowed, tokens] = (await this.takeToken(
        this.prefix + key,
        this.policy.maxTokens,
        ratePerMs(this.policy),
        cost,
      )) as TakeReply;
      if (this.degraded) {
        this.degraded = false;
        this.logger.info('API rate limiter: Redis answers again; buckets are shared again');
      }
      return resultOf(this.policy, allowed === 1, Number(tokens), cost);
    } catch (err) {
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn(
          { err: (err as Error).message },
          'API rate limiter: Redis does not answer; each node limits on its own until it does',
        );
      }
      return this.fallback.takeNow(key, cost);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
