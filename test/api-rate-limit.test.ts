import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { testApp, waitFor } from './helpers/app.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { parseRedisUri } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { RedisBuckets } from '../src/ratelimit/redis-buckets.js';
import { MemoryBuckets, takeFrom } from '../src/ratelimit/token-bucket.js';
import type { App } from '../src/app/app.js';

const LIMITED = {
  API_RATE_LIMITER_ENABLED: 'true',
  API_RATE_LIMITER_MAX_TOKENS: '5',
  API_RATE_LIMITER_REFILL_RATE: '1',
  API_RATE_LIMITER_REFILL_INTERVAL: '10s',
};

async function get(
  app: App,
  headers: Record<string, string> = {},
  url = '/messages',
  remoteAddress?: string,
) {
  const r = await app.server.inject({ url, headers, ...(remoteAddress ? { remoteAddress } : {}) });
  return { status: r.statusCode, headers: r.headers, body: r.json() as Record<string, unknown> };
}

describe('the token bucket', () => {
  test('bursts up to maxTokens, then refills continuously at refillRate per refillInterval', () => {
    const p = { maxTokens: 3, refillRate: 1, refillIntervalMs: 100 };
    let state: { tokens: number; at: number } | undefined;
    const take = (now: number) => {
      const r = takeFrom(p, state, 1, now);
      state = r.state;
      return r.result;
    };
    assert.deepEqual(
      [take(0), take(0), take(0)].map((r) => [r.allowed, r.remaining]),
      [
        [true, 2],
        [true, 1],
        [true, 0],
      ],
    );
    const denied = take(10);
    assert.equal(denied.allowed, false);
    assert.equal(denied.retryAfterMs, 90);
    assert.equal(take(100).allowed, true);
    assert.equal(take(150).allowed, false);
    // a long pause refills to maxTokens, never beyond
    assert.equal(take(10_000).remaining, 2);
  });

  test('memory buckets drop the refilled ones when there are too many keys', () => {
    let now = 0;
    const b = new MemoryBuckets({ maxTokens: 1, refillRate: 1, refillIntervalMs: 1 }, () => now);
    for (let i = 0; i < 100_000; i++) b.takeNow(`k${i}`, 1);
    now = 10;
    b.takeNow('one more', 1);
    assert.equal(b.size, 1);
  });
});

describe('API rate limiting', () => {
  test('per client: 429 with Retry-After and the RateLimit headers; probes exempt; each key its own bucket', async () => {
    const t = await testApp(LIMITED);
    try {
      const first = await get(t.app);
      assert.equal(first.status, 200);
      assert.equal(first.headers['ratelimit-policy'], '"api";q=5;w=50');
      assert.equal(first.headers['ratelimit'], '"api";r=4;t=10');
      for (let i = 0; i < 4; i++) assert.equal((await get(t.app)).status, 200);
      const over = await get(t.app);
      assert.equal(over.status, 429);
      assert.equal(over.body.code, 'RATE_LIMITED');
      assert.match(String(over.body.error), /retry in \d+ s/);
      const wait = Number(over.headers['retry-after']);
      assert.ok(wait >= 9 && wait <= 10, `Retry-After ${wait}`);
      assert.match(String(over.headers['ratelimit']), /^"api";r=0;t=\d+$/);
      for (let i = 0; i < 20; i++) assert.equal((await get(t.app, {}, '/healthz')).status, 200);
      // anonymous clients are told apart by address (api.auth none lets other addresses in)
      const other = await testApp({ ...LIMITED, API_AUTH: 'none' });
      try {
        for (let i = 0; i < 5; i++)
          assert.equal((await get(other.app, {}, '/messages', '10.0.0.1')).status, 200);
        assert.equal((await get(other.app, {}, '/messages', '10.0.0.1')).status, 429);
        assert.equal((await get(other.app, {}, '/messages', '10.0.0.2')).status, 200);
      } finally {
        await other.cleanup();
      }
      // keys: one bucket per key, whatever address it comes from
      const a = await createApiKey(t.app.store.keys, 'a', ['messages:read']);
      const b = await createApiKey(t.app.store.keys, 'b', ['messages:read']);
      await waitFor(
        async () => (await get(t.app, { authorization: `Bearer ${a.key}` })).status === 200,
        5000,
        'keys',
      );
      for (let i = 0; i < 4; i++) {
        assert.equal(
          (await get(t.app, { authorization: `Bearer ${a.key}` }, '/messages', `10.0.0.${i}`)).status,
          200,
        );
      }
      assert.equal((await get(t.app, { authorization: `Bearer ${a.key}` })).status, 429);
      assert.equal((await get(t.app, { authorization: `Bearer ${b.key}` })).status, 200);
      // guessing keys draws on the address's bucket
      const guesses = [];
      for (let i = 0; i < 7; i++)
        guesses.push(
          (await get(t.app, { authorization: 'Bearer ms_guess' }, '/messages', '10.9.9.9')).status,
        );
      assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429, 429]);
    } finally {
      await t.cleanup();
    }
  });

  test('with Redis, one bucket for a client across nodes', async (ctx) => {
    const redis = serviceUrl('REDIS_URI');
    if (!redis) return ctx.skip('REDIS_URI not set');
    const env = {
      ...LIMITED,
      API_RATE_LIMITER_MAX_TOKENS: '10',
      REDIS_URI: redis,
      CACHE_KEY_PREFIX: `${uniqueName('rl')}:`,
    };
    const a = await testApp(env);
    const b = await testApp(env);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        statuses.push((await get(a.app)).status);
        statuses.push((await get(b.app)).status);
      }
      assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 6);
      // concurrent: still never more than the bucket
      const c = await testApp({ ...env, CACHE_KEY_PREFIX: `${uniqueName('rl')}:` });
      const d = await testApp({ ...env, CACHE_KEY_PREFIX: c.config.cache.keyPrefix });
      try {
        const all = await Promise.all(
          Array.from({ length: 40 }, (_, i) => get(i % 2 ? c.app : d.app).then((r) => r.status)),
        );
        assert.equal(all.filter((s) => s === 200).length, 10);
      } finally {
        await c.cleanup();
        await d.cleanup();
      }
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  test('Redis unreachable: each node limits on its own (logged once), and shares again when it is back', async (ctx) => {
    const redis = serviceUrl('REDIS_URI');
    if (!redis) return ctx.skip('REDIS_URI not set');
    const target = parseRedisUri(redis, process.env.REDIS_PASSWORD ?? '', '0');
    // a proxy in front of the real Redis: closing it is an outage this test owns
    const sockets = new Set<Socket>();
    let proxy: Server = createServer();
    const listen = (port: number) =>
      new Promise<number>((resolve) => {
        proxy = createServer((client) => {
          const upstream = connect(target.port, target.host);
          sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          const end = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('error', end).on('close', end);
          upstream.on('error', end).on('close', end);
        });
        proxy.listen(port, '127.0.0.1', () => resolve((proxy.address() as { port: number }).port));
      });
    const port = await listen(0);
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _e, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const policy = { maxTokens: 3, refillRate: 1, refillIntervalMs: 60_000 };
    const buckets = new RedisBuckets({ ...target, port }, policy, `${uniqueName('rl')}:`, logger);
    await buckets.connect();
    try {
      assert.equal((await buckets.take('c', 1)).allowed, true);
      proxy.close();
      for (const s of sockets) s.destroy();
      const during = [];
      for (let i = 0; i < 5; i++) during.push((await buckets.take('c', 1)).allowed);
      // the local bucket of the same policy: 3, then refused
      assert.deepEqual(during, [true, true, true, false, false]);
      assert.equal(lines.filter((l) => /Redis does not answer/.test(l)).length, 1);
      await listen(port);
      await waitFor(async () => (await buckets.take('c', 0)).remaining === 2, 10_000, 'Redis back');
      assert.ok(lines.some((l) => /Redis answers again/.test(l)));
      // the shared bucket again: 2 left of it
      assert.deepEqual(
        [
          (await buckets.take('c', 1)).allowed,
          (await buckets.take('c', 1)).allowed,
          (await buckets.take('c', 1)).allowed,
        ],
        [true, true, false],
      );
    } finally {
      await buckets.close();
      proxy.close();
      for (const s of sockets) s.destroy();
    }
  });
});
