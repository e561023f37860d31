import type { Redis } from 'ioredis';
import { FAIL_FAST, redisClient, script } from '../redis/redis-client.js';
import type { RedisConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { Grant, RateLimiter, SharedOutRateLimiter, StepPolicy } from './delivery-limiter.js';

/**
 * The delivery bucket of the whole cluster, in Redis: refilled in steps (as
 * the original's ticker) and taken in one script on Redis' clock, so N nodes
 * together never take more than the configured rate. A grant may be partial.
 */
const TAKE = `
local max = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 't', 'last')
local tokens = tonumber(v[1])
local last = tonumber(v[2])
if tokens == nil or last == nil then
  tokens = max
  last = now
end
local steps = math.floor((now - last) / interval)
if steps > 0 then
  tokens = math.min(max, tokens + steps * rate)
  last = last + steps * interval
end
local got = math.min(wanted, math.floor(tokens))
if got < 0 then got = 0 end
tokens = tokens - got
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'last', tostring(last))
redis.call('PEXPIRE', KEYS[1], interval * (math.ceil(max / rate) + 1))
local wait = 0
if got == 0 then wait = last + interval - now end
return {got, wait, math.floor(tokens)}
`;

const GIVE_BACK = `
local max = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t == nil then return -1 end
t = math.min(max, t + n)
redis.call('HSET', KEYS[1], 't', tostring(t))
return math.floor(t)
`;

/** A take Redis has not answered by its deadline (it may still run: see giveBackLate). */
class LateAnswer extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
  }
}

/**
 * When Redis does not answer (250 ms), the node falls back to its share of the
 * rate (`fallback`: the rate divided by the live delivering nodes), so the
 * cluster stays within the configured rate; back to the shared bucket when Redis answers.
 */
export class RedisDeliveryLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly takeTokens: ReturnType<typeof script>;
  private readonly giveTokensBack: ReturnType<typeof script>;
  private degraded = false;
  /** the shared bucket's tokens after this node's last take (the metrics gauge) */
  private lastLevel = Number.NaN;
  /** tokens of takes answered after their deadline, given back (tests, debugging) */
  lateReturns = 0;
  /** how long a take waits for Redis before this node falls back to its share of the rate */
  private readonly timeoutMs = FAIL_FAST.commandTimeout ?? 250;

  constructor(
    config: RedisConfig,
    private readonly policy: StepPolicy,
    private readonly prefix: string,
    /** the node's share of the rate, starting empty (see SharedOutRateLimiter) */
    private readonly fallback: SharedOutRateLimiter,
    private readonly logger: Logger,
  ) {
    // no command timeout of the client's: a take that times out is still answered later, and that
    // answer gives back what the script took (take() below)
    this.redis = redisClient(config, { ...FAIL_FAST, commandTimeout: undefined });
    this.takeTokens = script(this.redis, 'msDeliveryTake', 1, TAKE);
    this.giveTokensBack = script(this.redis, 'msDeliveryGiveBack', 1, GIVE_BACK);
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  async take(key: string, wanted: number, now: number): Promise<Grant> {
    const answer = this.takeTokens(
      this.prefix + key,
      this.policy.maxTokens,
      this.policy.refillRate,
      this.policy.refillIntervalMs,
      wanted,
    ) as Promise<[number, number, number]>;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LateAnswer(this.timeoutMs)), this.timeoutMs);
    });
    try {
      const [tokens, waitMs, left] = await Promise.race([answer, deadline]);
      this.lastLevel = Number(left);
      if (this.degraded) {
        this.degraded = false;
        this.logger.info('delivery rate limit: Redis answers again; the cluster shares one bucket again');
      }
      return { tokens: Number(tokens), waitMs: Number(waitMs) };
    } catch (err) {
      // the script may still run (a stalled event loop here, a busy Redis): what it takes is given
      // back when its answer arrives, so no token is lost until the next refill
      if (err instanceof LateAnswer) this.giveBackLate(key, answer);
      if (!this.degraded) {
        this.degraded = true;
        // what the shared bucket granted this interval is not known here: start from nothing
        this.fallback.reset();
        this.logger.warn(
          { err: (err as Error).message },
          'delivery rate limit: Redis does not answer; this node takes its share of the rate until it does',
        );
      }
      return this.fallback.take(key, wanted, now);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The tokens of a take answered after its deadline, back into the shared bucket. */
  private giveBackLate(key: string, answer: Promise<[number, number, number]>): void {
    answer.then(
      ([tokens]) => {
        const n = Number(tokens);
        if (n <= 0) return;
        this.lateReturns += n;
        this.logger.debug(
          { key, tokens: n },
          'delivery rate limit: a late Redis answer: its tokens given back',
        );
        this.giveTokensBack(this.prefix + key, this.policy.maxTokens, n).then(
          () => undefined,
          () => undefined,
        );
      },
      () => undefined,
    );
  }

  giveBack(key: string, count: number): void {
    if (count <= 0) return;
    if (this.degraded) {
      this.fallback.giveBack(key, count);
      return;
    }
    this.giveTokensBack(this.prefix + key, this.policy.maxTokens, count).then(
      (left) => {
        if (Number(left) >= 0) this.lastLevel = Number(left);
      },
      () => undefined,
    );
  }

  tokens(key: string, now: number): number {
    return this.degraded ? this.fallback.tokens(key, now) : this.lastLevel;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
