import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseRedisUri } from '../src/config/config.js';
import { RedisCache } from '../src/cache/redis-cache.js';
import { Sink } from '../bench/sink.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { testApp, waitFor } from './helpers/app.js';

const url = serviceUrl('REDIS_URI');

describe('Redis (real server)', { skip: url === null && 'REDIS_URI not configured' }, () => {
  const prefix = uniqueName('ms') + ':';
  let raw: Redis;
  before(() => {
    const c = parseRedisUri(url ?? '', '', '0');
    raw = new Redis({ host: c.host, port: c.port, db: c.db });
  });
  after(async () => {
    const keys = await raw.keys(prefix + '*');
    if (keys.length) await raw.del(...keys);
    raw.disconnect();
  });

  test('the cache writes with the key prefix and the TTL', async () => {
    const cache = new RedisCache(parseRedisUri(url ?? '', '', '0'), prefix);
    await cache.connect();
    await cache.set('abc', '2026-01-01T00:00:00.000Z', 60_000);
    assert.equal(await cache.get('abc'), '2026-01-01T00:00:00.000Z');
    assert.equal(await raw.get(prefix + 'abc'), '2026-01-01T00:00:00.000Z');
    const ttl = await raw.pttl(prefix + 'abc');
    assert.ok(ttl > 55_000 && ttl <= 60_000, `ttl ${ttl}`);
    await cache.ping();
    await cache.close();
  });

  test('after a delivery, messageId → sent_at is in Redis; /readyz checks Redis', async () => {
    const sink = new Sink({ port: 0 });
    const port = await sink.start();
    const { app, cleanup } = await testApp({
      REDIS_URI: url ?? '',
      CACHE_KEY_PREFIX: prefix,
      WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      POOL_INITIAL_JOB_FETCH: 'true',
      RATE_LIMITER_ENABLED: 'false',
      CACHE_TTL: '1h',
    });
    try {
      assert.equal(app.cache.kind, 'redis');
      app.pool.start();
      const r = await app.server.inject({
        method: 'POST',
        url: '/messages',
        payload: { content: 'cache me', recipient_phone_number: '+90' },
      });
      const id = r.json().id as string;
      await waitFor(async () => (await app.store.get(id))?.status === 'sent', 10_000, 'sent');
      const m = await app.store.get(id);
      const respId = m?.webhook_response_message_id ?? '';
      assert.match(respId, /^[0-9a-f-]{36}$/);
      await waitFor(async () => (await raw.get(prefix + respId)) !== null, 5000, 'cache entry');
      assert.equal(await raw.get(prefix + respId), m?.sent_at?.toISOString());
      const ttl = await raw.pttl(prefix + respId);
      assert.ok(ttl > 3_500_000 && ttl <= 3_600_000);
      const ready = await app.server.inject('/readyz');
      assert.deepEqual(ready.json().checks, { store: 'ok', redis: 'ok' });
    } finally {
      await cleanup();
      await sink.stop();
    }
  });
});
