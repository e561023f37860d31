import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { parseRedisUri } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { RedisDeliveryLimiter } from '../src/ratelimit/redis-delivery-limiter.js';
import { DEFAULT_DESTINATION as KEY, SharedOutRateLimiter } from '../src/ratelimit/delivery-limiter.js';

test('Redis delivery bucket: three nodes draw on one bucket (partial grants, give-back); Redis down: each its share', async (ctx) => {
  const url = serviceUrl('REDIS_URI');
  if (!url) return ctx.skip('REDIS_URI not set');
  const cfg = parseRedisUri(url, process.env.REDIS_PASSWORD ?? '', '0');
  const policy = { maxTokens: 10, refillRate: 5, refillIntervalMs: 60_000 };
  const prefix = `${uniqueName('dl')}:`;
  const nodes = [0, 1, 2].map(
    () =>
      new RedisDeliveryLimiter(
        cfg,
        policy,
        prefix,
        new SharedOutRateLimiter(policy, () => 3),
        silentLogger(),
      ),
  );
  try {
    await Promise.all(nodes.map((n) => n.connect()));
    const [a, b, c] = nodes;
    if (!a || !b || !c) throw new Error('three');
    const now = Date.now();
    assert.deepEqual(await a.take(KEY, 4, now), { tokens: 4, waitMs: 0 });
    assert.deepEqual(await b.take(KEY, 4, now), { tokens: 4, waitMs: 0 });
    assert.equal((await c.take(KEY, 4, now)).tokens, 2, 'a partial grant: what is left');
    const empty = await a.take(KEY, 1, now);
    assert.equal(empty.tokens, 0);
    assert.ok(empty.waitMs > 59_000 && empty.waitMs <= 60_000, `wait ${empty.waitMs}`);
    c.giveBack(KEY, 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await b.take(KEY, 5, now)).tokens, 2, 'given back, and never above the bucket');

    // an unreachable Redis: the node's share of the rate (10 / 3 nodes, 5 / 3 a minute), starting
    // empty: what the shared bucket granted this interval is not known, so no burst is added to it
    const down = new RedisDeliveryLimiter(
      { ...cfg, port: 1 },
      policy,
      prefix,
      new SharedOutRateLimiter(policy, () => 3, true),
      silentLogger(),
    );
    await down.connect().catch(() => undefined);
    const t0 = Date.now();
    assert.equal((await down.take(KEY, 10, t0)).tokens, 0);
    assert.equal((await down.take(KEY, 10, t0 + 60_000)).tokens, 1, 'one step: 5/3 tokens, one whole');
    assert.equal((await down.take(KEY, 10, t0 + 120_000)).tokens, 2);
    assert.equal(
      (await down.take(KEY, 10, t0 + 10 * 60_000)).tokens,
      3,
      'never above its share of the burst',
    );
    await down.close();
  } finally {
    for (const n of nodes) await n.close();
  }
});

test('a take whose Redis answer comes after the deadline loses no token: the late answer gives them back', async (ctx) => {
  const url = serviceUrl('REDIS_URI');
  if (!url) return ctx.skip('REDIS_URI not set');
  const cfg = parseRedisUri(url, process.env.REDIS_PASSWORD ?? '', '0');
  // the shipped bucket: 2 messages per 2 minutes
  const policy = { maxTokens: 2, refillRate: 2, refillIntervalMs: 120_000 };
  const prefix = `${uniqueName('late')}:`;
  const node = new RedisDeliveryLimiter(
    cfg,
    policy,
    prefix,
    // as the app makes it: the fallback starts empty
    new SharedOutRateLimiter(policy, () => 1, true),
    silentLogger(),
  );
  const { Redis } = await import('ioredis');
  const staller = new Redis({
    host: cfg.host,
    port: cfg.port,
    password: cfg.password,
    db: cfg.db,
    lazyConnect: true,
  });
  try {
    await Promise.all([node.connect(), staller.connect()]);
    const now = Date.now();
    assert.equal((await node.take(KEY, 1, now)).tokens, 1, 'one of two taken');
    // Redis holds every other client's commands for 600 ms from the moment it answers OK: the
    // next take is sent after that, so its answer comes after its 250 ms deadline
    assert.equal(await staller.client('PAUSE', 600, 'ALL'), 'OK');
    const stalled = await node.take(KEY, 1, now);
    assert.equal(stalled.tokens, 0, 'past the deadline: the node fell back to its own, empty, share');
    // the script ran after the pause and took the last token; its answer gives it back
    const { waitFor } = await import('./helpers/app.js');
    await waitFor(() => node.lateReturns === 1, 5000, 'the late answer');
    await waitFor(
      async () => (await staller.hget(`${prefix}${KEY}`, 't')) === '1',
      5000,
      'the token back in the shared bucket',
    );
    const after = await node.take(KEY, 2, now);
    assert.equal(
      after.tokens,
      1,
      'the token the late take held is there to deliver, not lost until the refill',
    );
  } finally {
    await node.close();
    staller.disconnect();
  }
});
