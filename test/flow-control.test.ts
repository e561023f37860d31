import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { serviceUrl, sqliteFactory, uniqueName } from './helpers/services.js';
import { parseRedisUri } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { UnlimitedRateLimiter } from '../src/ratelimit/delivery-limiter.js';
import type { Deliverer, DeliveryResult, WebhookRequest } from '../src/delivery/webhook-client.js';
import { DestinationRegistry } from '../src/destinations/registry.js';
import { FlowControl } from '../src/destinations/flow-control.js';
import { laneRate, LaneBucket, SharedLaneLimits, slotsOf } from '../src/destinations/lane-limits.js';
import { RedisLaneLimits } from '../src/destinations/redis-lane-limits.js';
import { builtinDestination, plainSpec, type DestinationSpec } from '../src/domain/destination.js';
import type { MessageStore } from '../src/store/store.js';

const DELIVERED: DeliveryResult = {
  kind: 'delivered',
  statusCode: 202,
  responseMessageId: null,
  warning: null,
};
const retry = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** The receiver, the one fake: it records where each request went; gated ones wait for the test. */
class Receiver implements Deliverer {
  readonly to: string[] = [];
  gated = false;
  readonly gates: Array<{ url: string; open: () => void }> = [];
  async deliver(req: WebhookRequest): Promise<DeliveryResult> {
    const url = req.target?.url ?? 'default';
    this.to.push(url);
    if (this.gated) await new Promise<void>((open) => this.gates.push({ url, open }));
    return DELIVERED;
  }
  /** lets the first waiting request to `url` be answered */
  answer(url: string): void {
    const i = this.gates.findIndex((g) => g.url === url);
    const [g] = this.gates.splice(i, 1);
    g?.open();
  }
  count(url: string): number {
    return this.to.filter((u) => u === url).length;
  }
  async close(): Promise<void> {}
}

let store: MessageStore;
let drop: () => Promise<void>;
let registry: DestinationRegistry;
let clock: number;

beforeEach(async () => {
  ({ store, drop } = await sqliteFactory().create());
  clock = Date.UTC(2026, 0, 1);
  registry = new DestinationRegistry({
    store: store.destinations,
    builtin: builtinDestination(
      { url: 'http://127.0.0.1:9/default', timeoutMs: 1000, signingSecrets: [], retry },
      new Date(clock),
    ),
    refreshMs: 60_000,
    logger: silentLogger(),
  });
});
afterEach(async () => {
  registry.close();
  await drop();
});

async function destination(id: string, extra: Partial<DestinationSpec> = {}): Promise<void> {
  const d = await store.destinations.createDestination(
    id,
    plainSpec(`http://127.0.0.1:9/${id}`, extra),
    new Date(clock),
  );
  registry.changed(id, d);
}

function pool(
  receiver: Deliverer,
  limits = new SharedLaneLimits(
    () => 1,
    () => clock,
  ),
) {
  const flow = new FlowControl({ registry, limits, store, maxDryMs: 1000, now: () => clock });
  const p = new WorkerPool({
    store,
    destinations: registry,
    flow,
    deliverer: receiver,
    limiter: new UnlimitedRateLimiter(),
    retry,
    owner: 'node-a',
    numWorkers: 8,
    leaseMs: 60_000,
    pollIntervalMs: 1000,
    initialState: 'running',
    logger: silentLogger(),
    now: () => clock,
    random: () => 0.5,
  });
  return { p, flow };
}

async function add(n: number, destination_id: string | null, sendAtMs = clock): Promise<void> {
  const rows = Array.from({ length: n }, (_, i) => ({
    content: `m${i}`,
    recipient_phone_number: '+1',
    destination_id,
    send_at: new Date(sendAtMs),
  }));
  await store.create(rows, new Date(clock));
}

/** tick, let the deliveries run, store their outcomes */
async function step(p: WorkerPool): Promise<number> {
  const n = await p.tick();
  await new Promise((r) => setImmediate(r));
  await p.flush();
  return n;
}

describe('flow control per destination (a pool driven by tick, no timers)', () => {
  test('a destination at its rate gets only its tokens; the others and default take the rest of every round', async () => {
    await destination('slow', { rate_limit: { limit: 10, period_ms: 1000, burst: 2 } });
    await destination('fast');
    await add(500, 'slow');
    await add(40, 'fast');
    await add(10, null);
    const r = new Receiver();
    const { p } = pool(r);
    for (let i = 0; i < 30 && (r.count('http://127.0.0.1:9/fast') < 40 || r.count('default') < 10); i++)
      await step(p);
    assert.equal(r.count('http://127.0.0.1:9/fast'), 40);
    assert.equal(r.count('default'), 10);
    assert.equal(r.count('http://127.0.0.1:9/slow'), 2, 'its burst, no more: the clock has not moved');
    // 1 s later: 10 more tokens (its burst of 2 caps what waited), then one per 100 ms
    clock += 1000;
    await step(p);
    assert.equal(r.count('http://127.0.0.1:9/slow'), 4);
    for (let i = 0; i < 50; i++) {
      clock += 100;
      await step(p);
    }
    assert.equal(r.count('http://127.0.0.1:9/slow'), 54, 'one per 100 ms');
    await p.stop(1000);
  });

  test('max_in_flight holds: never more of a destination in flight; a finished one lets the next go', async () => {
    await destination('narrow', { max_in_flight: 2 });
    await add(10, 'narrow');
    await add(3, null);
    const r = new Receiver();
    r.gated = true;
    const { p, flow } = pool(r);
    await p.tick();
    await p.tick();
    await new Promise((res) => setImmediate(res));
    assert.equal(r.count('http://127.0.0.1:9/narrow'), 2);
    assert.equal(r.count('default'), 3, 'default is not held by it');
    assert.equal(flow.inFlight('narrow'), 2);
    r.answer('http://127.0.0.1:9/narrow');
    await new Promise((res) => setImmediate(res));
    await p.tick();
    await new Promise((res) => setImmediate(res));
    assert.equal(r.count('http://127.0.0.1:9/narrow'), 3);
    assert.equal(flow.inFlight('narrow'), 2);
    r.gated = false;
    for (const g of r.gates.splice(0)) g.open();
    for (let i = 0; i < 20 && r.count('http://127.0.0.1:9/narrow') < 10; i++) await step(p);
    assert.equal(r.count('http://127.0.0.1:9/narrow'), 10);
    await p.stop(1000);
    assert.equal(flow.inFlight('narrow'), 0, 'every slot given back');
  });

  test('paused destinations have no lane; a lane with nothing due is skipped until its next message is due', async () => {
    await destination('held');
    await destination('later');
    await add(5, 'held');
    await add(1, 'later', clock + 5000);
    const r = new Receiver();
    const { p, flow } = pool(r);
    const d = await store.destinations.setDestinationStatus('held', 'paused', null, new Date(clock));
    registry.changed('held', d);
    assert.equal(await step(p), 0);
    // 'later' came back short: skipped until its message is due (5 s), not read every round
    assert.equal(flow.wakeIn(clock), 1000, 'the next look: at most maxDryMs away');
    clock += 5000;
    assert.equal(await step(p), 1);
    assert.deepEqual(r.to, ['http://127.0.0.1:9/later']);
    // created meanwhile: a wake-up makes every lane worth a claim at once
    await add(2, 'later');
    p.wake();
    assert.equal(await step(p), 2);
    const resumed = await store.destinations.setDestinationStatus('held', 'active', null, new Date(clock));
    registry.changed('held', resumed);
    assert.equal(await step(p), 5);
    await p.stop(1000);
  });

  test('without destinations of its own the pool claims as before: one claim, default only', async () => {
    await add(5, null);
    const r = new Receiver();
    const { p, flow } = pool(r);
    assert.equal(flow.active, false);
    assert.equal(await step(p), 5);
    await p.stop(1000);
  });
});

test('a destination’s limits divided among nodes without Redis: its rate and its slots, at least one each', () => {
  let nodes = 3;
  let now = 0;
  const limits = new SharedLaneLimits(
    () => nodes,
    () => now,
  );
  const rate = laneRate({ rate_limit: { limit: 30, period_ms: 1000, burst: 30 } });
  assert.ok(rate);
  assert.equal(limits.take('d', rate, 100).tokens, 10, 'a third of the burst');
  now += 1000;
  assert.equal(limits.take('d', rate, 100).tokens, 10, 'a third of the rate');
  assert.equal(limits.acquire('d', 7, 10), 2);
  assert.equal(limits.acquire('d', 7, 10), 0);
  limits.release('d', 1);
  assert.equal(limits.acquire('d', 7, 10), 1);
  nodes = 1;
  assert.equal(limits.acquire('d', 7, 10), 5, 'alone: all of it');
  assert.equal(slotsOf(1, 3), 1, 'a bound below the node count: one each');
  const b = new LaneBucket({ max: 2, perMs: 0.01 }, 0);
  assert.deepEqual(b.take(5, 0), { tokens: 2, waitMs: 0 });
  assert.deepEqual(b.take(1, 0), { tokens: 0, waitMs: 100 });
});

test('Redis: three nodes share a destination’s bucket and its slots in flight exactly; slots of a dead node expire', async (ctx) => {
  const url = serviceUrl('REDIS_URI');
  if (!url) return ctx.skip('REDIS_URI not set');
  const cfg = parseRedisUri(url, process.env.REDIS_PASSWORD ?? '', '0');
  const prefix = `${uniqueName('lanes')}:`;
  const make = (owner: string, ttl = 60_000) =>
    new RedisLaneLimits(cfg, prefix, owner, ttl, new SharedLaneLimits(() => 3), silentLogger());
  const nodes = [make('a'), make('b'), make('c')];
  const dead = make('dead', 300);
  try {
    await Promise.all([...nodes, dead].map((n) => n.connect()));
    const [a, b, c] = nodes;
    if (!a || !b || !c) throw new Error('three');
    const rate = { max: 10, perMs: 5 / 60_000 };
    assert.equal((await a.take('d', rate, 4)).tokens, 4);
    assert.equal((await b.take('d', rate, 4)).tokens, 4);
    assert.equal((await c.take('d', rate, 4)).tokens, 2, 'what is left of the one bucket');
    const none = await a.take('d', rate, 1);
    assert.equal(none.tokens, 0);
    assert.ok(none.waitMs > 1000, `wait ${none.waitMs}`);
    c.giveBack('d', rate, 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await b.take('d', rate, 5)).tokens, 2);

    const got = await Promise.all([a, b, c, a, b, c].map((n) => n.acquire('d', 5, 2)));
    assert.equal(
      got.reduce((x, y) => x + y, 0),
      5,
      `exactly max_in_flight across the nodes: ${got.join(',')}`,
    );
    a.release('d', a.held('d'));
    await new Promise((r) => setTimeout(r, 50));
    const freed = await c.acquire('d', 5, 5);
    assert.ok(freed >= 1, 'what a released');
    // a node that dies holding slots: they come back when their lease would have expired
    for (const n of nodes) n.release('d', n.held('d'));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await dead.acquire('x', 2, 2), 2);
    assert.equal(await a.acquire('x', 2, 1), 0);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await a.acquire('x', 2, 2), 2, 'expired with the lease');
  } finally {
    await Promise.all([...nodes, dead].map((n) => n.close()));
  }
});
