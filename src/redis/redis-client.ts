import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/config.js';

/**
 * One Redis client from the config: every client of the service (cache, API buckets, the
 * delivery bucket, cluster signals) connects the same way and differs only in `overrides`
 * (how long a command may wait, whether commands queue while disconnected). Errors surface on
 * commands; the client reconnects by itself.
 */
export function redisClient(config: RedisConfig, overrides: RedisOptions = {}): Redis {
  const redis = new Redis({
    host: config.host,
    port: config.port,
    password: config.password || undefined,
    username: config.username || undefined,
    db: config.db,
    tls: config.tls ? {} : undefined,
    lazyConnect: true,
    ...overrides,
  });
  redis.on('error', () => undefined);
  return redis;
}

/** For a request path that must not wait for a reconnect: fail at once, within `commandTimeout`. */
export const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 250,
  connectTimeout: 2000,
};

/** A Lua script as a function: defined once on the client, sent by its SHA afterwards. */
export function script(redis: Redis, name: string, numberOfKeys: number, lua: string) {
  redis.defineCommand(name, { numberOfKeys, lua });
  const cmd = (redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
  if (!cmd) throw new Error(`Redis script ${name} was not defined`);
  return (...args: Array<string | number>): Promise<unknown> => cmd.apply(redis, args);
}
