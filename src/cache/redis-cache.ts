import type { Redis } from 'ioredis';
import { redisClient } from '../redis/redis-client.js';
import type { RedisConfig } from '../config/config.js';
import type { Cache } from './cache.js';

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;

  constructor(
    config: RedisConfig,
    private readonly prefix: string,
  ) {
    this.redis = redisClient(config, {
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      // the SETs of one event-loop turn go out in one write
      enableAutoPipelining: true,
      connectTimeout: 5000,
    });
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.prefix + key, value, 'PX', ttlMs);
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.prefix + key);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
