import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { ApiAccess } from './deps.js';
import { MemoryBuckets, type KeyedBuckets } from '../ratelimit/token-bucket.js';
import { ApiLimiter } from '../ratelimit/api-limiter.js';
import { KeyRegistry } from '../auth/api-keys.js';
import { Authenticator } from '../auth/authenticator.js';
import { JwtVerifier } from '../auth/jwt.js';
import proxyAddr from '@fastify/proxy-addr';

/** The API's access control from the config: keys, OAuth2, the per-client buckets (Redis when configured). */
export async function createAccess(
  config: Config,
  store: MessageStore,
  logger: Logger,
): Promise<{ access: ApiAccess; start(): Promise<void>; close(): Promise<void> }> {
  const registry = new KeyRegistry(store.keys, config.auth.keys, config.auth.keyRefreshMs, logger);
  const jwt = config.auth.jwt ? new JwtVerifier(config.auth.jwt, logger) : null;
  const policy = {
    maxTokens: config.apiRateLimiter.maxTokens,
    refillRate: config.apiRateLimiter.refillRate,
    refillIntervalMs: config.apiRateLimiter.refillIntervalMs,
  };
  let buckets: KeyedBuckets | null = null;
  if (config.apiRateLimiter.enabled) {
    if (config.redis) {
      const { RedisBuckets } = await import('../ratelimit/redis-buckets.js');
      const redis = new RedisBuckets(
        config.redis,
        policy,
        `${config.cache.keyPrefix}ms:ratelimit:api:`,
        logger,
      );
      // not reachable now: the local buckets serve until it is (logged by the limiter)
      await redis.connect().catch(() => undefined);
      buckets = redis;
    } else buckets = new MemoryBuckets(policy);
  }
  if (config.auth.mode === 'none') {
    logger.warn('api.auth is none: the API answers anyone who can reach it, without credentials');
  }
  return {
    access: {
      auth: new Authenticator(config.auth.mode, registry, jwt),
      swaggerPublic: config.auth.swaggerPublic,
      allowedHosts: config.api.allowedHosts,
      corsOrigins: config.api.corsOrigins,
      limiter: buckets ? new ApiLimiter(buckets, policy) : null,
      trustProxy: config.api.trustProxy.length > 0 ? proxyAddr.compile(config.api.trustProxy) : null,
      tokenUrl: config.auth.jwt?.tokenUrl ?? '',
      keyMaxLifetimeMs: config.auth.keyMaxLifetimeMs,
    },
    start: () => registry.start(),
    async close() {
      await registry.stop();
      await buckets?.close();
    },
  };
}
