/**
 * Each destination's limits shared by the whole cluster, in Redis: its bucket (a hash refilled
 * continuously and taken in one script on Redis' clock) and its slots in flight (a sorted set of
 * the slots held, each expiring with the lease of the message it stands for, so a dead node's
 * slots come back by themselves). When Redis does not answer, the node takes its share of each
 * limit (SharedLaneLimits) until it does.
 */
import type { Redis } from 'ioredis';
import { FAIL_FAST, redisClient, script } from '../redis/redis-client.js';
import { REFILL_LUA } from '../ratelimit/redis-buckets.js';
import type { RedisConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { SharedLaneLimits } from './lane-limits.js';
import { type LaneGrant, type LaneLimits, type LaneRate } from './lane-limits.js';

const TAKE = `${REFILL_LUA}
local wanted = tonumber(ARGV[3])
local got = math.min(wanted, math.floor(tokens))
if got < 0 then got = 0 end
tokens = tokens - got
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((max - tokens) / rate) + 1000)
local wait = 0
if got == 0 then wait = math.ceil((1 - tokens) / rate) end
return {got, wait}
`;

const GIVE_BACK = `
local max = tonumber(ARGV[1])
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t == nil then return 0 end
redis.call('HSET', KEYS[1], 't', tostring(math.min(max, t + tonumber(ARGV[2]))))
return 1
`;

/** Adds as many of the slots named in ARGV[3..] as there is room for under ARGV[1]; returns how many. */
const ACQUIRE = `
local max = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local room = max - redis.call('ZCARD', KEYS[1])
local got = 0
for i = 3, #ARGV do
  if got >= room then break end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  got = got + 1
end
redis.call('PEXPIRE', KEYS[1], ttl + 1000)
return got
`;

export class RedisLaneLimits implements LaneLimits {
  private readonly redis: Redis;
  private readonly takeScript: ReturnType<typeof script>;
  private readonly giveBackScript: ReturnType<typeof script>;
  private readonly acquireScript: ReturnType<typeof script>;
  /** the slots this node holds in Redis, by destination */
  private readonly slots = new Map<string, string[]>();
  private seq = 0;
  private degraded = false;

  constructor(
    config: RedisConfig,
    private readonly prefix: string,
    private readonly owner: string,
    /** how long a slot is held at most: the lease of the message it stands for */
    private readonly slotTtlMs: number,
    /** this node's share, while Redis does not answer */
    private readonly fallback: SharedLaneLimits,
    private readonly logger: Logger,
  ) {
    this.redis = redisClient(config, FAIL_FAST);
    this.takeScript = script(this.redis, 'msLaneTake', 1, TAKE);
    this.giveBackScript = script(this.redis, 'msLaneGiveBack', 1, GIVE_BACK);
    this.acquireScript = script(this.redis, 'msLaneAcquire', 1, ACQUIRE);
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  private failed(err: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.fallback.reset();
    this.logger.warn(
      { err: (err as Error).message },
      "destination limits: Redis does not answer; this node takes its share of each destination's limits until it does",
    );
  }

  private answered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info('destination limits: Redis answers again; the cluster shares them again');
  }

  async take(id: string, rate: LaneRate, wanted: number): Promise<LaneGrant> {
    try {
      const [tokens, waitMs] = (await this.takeScript(
        `${this.prefix}rate:${id}`,
        rate.max,
        rate.perMs,
        wanted,
      )) as [number, number];
      this.answered();
      return { tokens: Number(tokens), waitMs: Number(waitMs) };
    } catch (err) {
      this.failed(err);
      return this.fallback.take(id, rate, wanted);
    }
  }

  giveBack(id: string, rate: LaneRate, count: number): void {
    if (count <= 0) return;
    if (this.degraded) return this.fallback.giveBack(id, rate, count);
    this.giveBackScript(`${this.prefix}rate:${id}`, rate.max, count).catch(() => undefined);
  }

  async acquire(id: string, max: number, wanted: number): Promise<number> {
    if (wanted <= 0) return 0;
    const names = Array.from({ length: wanted }, () => `${this.owner}:${++this.seq}`);
    try {
      const got = Number(
        await this.acquireScript(`${this.prefix}flight:${id}`, max, this.slotTtlMs, ...names),
      );
      this.answered();
      if (got > 0) {
        const held = this.slots.get(id) ?? [];
        held.push(...names.slice(0, got));
        this.slots.set(id, held);
      }
      return got;
    } catch (err) {
      this.failed(err);
      // a late answer may have added slots: they expire with slotTtlMs (the count only errs low)
      return this.fallback.acquire(id, max, wanted);
    }
  }

  release(id: string, count: number): void {
    if (count <= 0) return;
    const held = this.slots.get(id) ?? [];
    const mine = held.splice(0, count);
    if (held.length === 0) this.slots.delete(id);
    // what is not a Redis slot was the fallback's
    if (mine.length < count) this.fallback.release(id, count - mine.length);
    if (mine.length > 0) this.redis.zrem(`${this.prefix}flight:${id}`, ...mine).catch(() => undefined);
  }

  held(id: string): number {
    return (this.slots.get(id)?.length ?? 0) + this.fallback.held(id);
  }

  async close(): Promise<void> {
    const all = [...this.slots.entries()];
    this.slots.clear();
    await Promise.all(
      all.map(([id, names]) => this.redis.zrem(`${this.prefix}flight:${id}`, ...names).catch(() => 0)),
    );
    this.redis.disconnect();
  }
}
