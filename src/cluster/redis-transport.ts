import type { Redis } from 'ioredis';
import { redisClient } from '../redis/redis-client.js';
import type { RedisConfig } from '../config/config.js';
import type { SignalTransport } from '../store/signal-transport.js';

/** Redis pub/sub, when REDIS_URI is set (any store): one channel per cluster. */
export class RedisTransport implements SignalTransport {
  readonly kind = 'redis' as const;
  private readonly sub: Redis;
  private readonly pub: Redis;

  constructor(
    config: RedisConfig,
    private readonly channel: string,
  ) {
    // a publish must not queue while disconnected: a lost push is made up by polling
    const options = { enableOfflineQueue: false, maxRetriesPerRequest: 0 };
    this.sub = redisClient(config, options);
    this.pub = redisClient(config, options);
  }

  send(payload: string): void {
    this.pub.publish(this.channel, payload).catch(() => undefined);
  }

  /** ioredis reconnects and subscribes again by itself: the subscription is never reported lost */
  async subscribe(onPayload: (payload: string) => void): Promise<void> {
    this.sub.on('message', (_channel: string, payload: string) => onPayload(payload));
    await Promise.all([this.sub.connect(), this.pub.connect()]);
    await this.sub.subscribe(this.channel);
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
