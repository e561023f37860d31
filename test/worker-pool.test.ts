import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { sqliteFactory } from './helpers/services.js';
import { waitFor } from './helpers/app.js';
import { FakeClock } from './helpers/fake-clock.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { roundSizing } from '../src/worker/outcome.js';
import {
  DEFAULT_DESTINATION,
  LocalRateLimiter,
  SharedOutRateLimiter,
  UnlimitedRateLimiter,
} from '../src/ratelimit/delivery-limiter.js';
import {
  WebhookClient,
  type Deliverer,
  type DeliveryResult,
  type WebhookRequest,
} from '../src/delivery/webhook-client.js';
import { Sink } from '../bench/sink.js';
import { silentLogger } from '../src/logging/logger.js';
import type { MessageStore } from '../src/store/store.js';
import type { OutcomeEvent } from '../src/worker/events.js';

const SECRET = 'whsec_' + Buffer.from('test-secret-test-secret-32bytes!').toString('base64');

/** A receiver's 202. */
const DELIVERED: DeliveryResult = {
  kind: 'delivered',
  statusCode: 202,
  responseMessageId: null,
  warning: null,
};

/** A receiver scripted per call: the only fake, since the webhook is outside the system. */
class ScriptedDeliverer implements Deliverer {
  calls: WebhookRequest[] = [];
  constructor(private readonly script: (req: WebhookRequest, n: number) => DeliveryResult) {}
  async deliver(req: WebhookRequest): Promise<DeliveryResult> {
    this.calls.push(req);
    return this.script(req, this.calls.filter((c) => c.webhookId === req.webhookId).length);
  }
  async close(): Promise<void> {}
}

/** A receiver that answers 202 to each request when the test opens its gate (gates, in order). */
function gatedDeliverer(): { gates: (() => void)[]; gated: Deliverer } {
  const gates: (() => void)[] = [];
  const gated: Deliverer = {
    async deliver() {
      await new Promise<void>((r) => gates.push(r));
      return DELIVERED;
    },
    async close() {},
  };
  return { gates, gated };
}

let store: MessageStore;
let drop: () => Promise<void>;
let clock: number;

beforeEach(async () => {
  ({ store, drop } = await sqliteFactory().create());
  clock = Date.UTC(2026, 0, 1);
});
afterEach(async () => {
  await drop();
});

function pool(deliverer: Deliverer, extra: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}) {
  return new WorkerPool({
    store,
    deliverer,
    limiter: new UnlimitedRateLimiter(),
    retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 },
    owner: 'node-a',
    numWorkers: 4,
    leaseMs: 60_000,
    pollIntervalMs: 20,
    initialState: 'running',
    logger: silentLogger(),
    now: () => clock,
    random: () => 0.5,
    ...extra,
  });
}

async function settle(p: WorkerPool): Promise<void> {
  await waitFor(() => p.inFlightCount === 0, 5000, 'deliveries');
  await p.flush();
}

describe('worker pool (driven by tick, no timers)', () => {
  test('delivers due messages, never early, and records the attempt', async () => {
    await store.create([{ content: 'now', recipient_phone_number: '+1' }], new Date(clock));
    await store.create(
      [{ content: 'later', recipient_phone_number: '+2', send_at: new Date(clock + 10_000) }],
      new Date(clock),
    );
    const d = new ScriptedDeliverer(() => ({
      kind: 'delivered',
      statusCode: 202,
      responseMessageId: 'r1',
      warning: null,
    }));
    const p = pool(d);
    const outcomes: OutcomeEvent[] = [];
    p.events.on('outcome', (e) => outcomes.push(e));
    assert.equal(await p.tick(), 1);
    await settle(p);
    assert.deepEqual(
      d.calls.map((c) => c.content),
      ['now'],
    );
    clock += 9_999;
    assert.equal(await p.tick(), 0, 'not before send_at');
    clock += 1;
    assert.equal(await p.tick(), 1);
    await settle(p);
    const sent = await store.list({ order: 'sent', limit: 10 });
    assert.equal(sent.items.length, 2);
    assert.equal(sent.items[0]?.webhook_response_message_id, 'r1');
    assert.equal(outcomes.length, 2);
    assert.ok(outcomes.every((o) => o.applied && o.outcome.kind === 'sent'));
    const attempts = await store.attempts(sent.items[0]?.id ?? '');
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.status_code, 202);
  });

  test('retryable errors back off with the same webhook-id; Retry-After is honoured; attempts run out to failed', async () => {
    const [r] = await store.create([{ content: 'flaky', recipient_phone_number: '+1' }], new Date(clock));
    const id = r?.message.id ?? '';
    const d = new ScriptedDeliverer((_req, n) =>
      n === 1
        ? { kind: 'retryable', statusCode: 503, error: 'HTTP 503', retryAfterMs: null, maybeDelivered: false }
        : {
            kind: 'retryable',
            statusCode: 429,
            error: 'HTTP 429',
            retryAfterMs: 7000,
            maybeDelivered: false,
          },
    );
    const p = pool(d);
    await p.tick();
    await settle(p);
    let m = await store.get(id);
    assert.equal(m?.status, 'unsent');
    assert.equal(m?.attempts, 1);
    // full jitter with random() = 0.5 → half of baseDelay * 2^0
    assert.equal(m?.due_at.getTime(), clock + 500);
    clock += 500;
    await p.tick();
    await settle(p);
    m = await store.get(id);
    assert.equal(m?.due_at.getTime(), clock + 7000, 'Retry-After');
    clock += 7000;
    await p.tick();
    await settle(p);
    m = await store.get(id);
    assert.equal(m?.status, 'failed');
    assert.equal(m?.attempts, 3);
    assert.match(m?.last_error ?? '', /429.*after 3 attempts/);
    assert.equal(new Set(d.calls.map((c) => c.webhookId)).size, 1, 'one webhook-id across retries');
    const attempts = await store.attempts(id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status_code, a.outcome]),
      [
        [1, 503, 'retry'],
        [2, 429, 'retry'],
        [3, 429, 'failed'],
      ],
    );
  });

  test('a permanent 4xx fails at once; invalid content is never sent', async () => {
    const created = await store.create(
      [
        { content: 'rejected', recipient_phone_number: '+1' },
        { content: 'y'.repeat(161), recipient_phone_number: '+2' },
      ],
      new Date(clock),
    );
    const d = new ScriptedDeliverer(() => ({ kind: 'permanent', statusCode: 400, error: 'HTTP 400' }));
    const p = pool(d);
    await p.tick();
    await settle(p);
    assert.equal(d.calls.length, 1);
    assert.equal((await store.get(created[0]?.message.id ?? ''))?.status, 'failed');
    const invalid = await store.get(created[1]?.message.id ?? '');
    assert.equal(invalid?.status, 'invalid_content');
    assert.match(invalid?.last_error ?? '', /161 characters/);
  });

  test('the token bucket gates claiming: nothing is claimed without a token', async () => {
    await store.create(
      Array.from({ length: 5 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    const limiter = new LocalRateLimiter(
      { maxTokens: 2, refillRate: 2, refillIntervalMs: 120_000 },
      () => clock,
    );
    const d = new ScriptedDeliverer(() => DELIVERED);
    const p = pool(d, { limiter });
    assert.equal(await p.tick(), 2);
    await settle(p);
    assert.equal(await p.tick(), 0);
    assert.equal((await store.countByStatus()).processing, 0, 'no message claimed and left waiting');
    assert.equal(limiter.bucket(DEFAULT_DESTINATION).msUntilToken(clock), 120_000);
    clock += 120_000;
    assert.equal(await p.tick(), 2);
    await settle(p);
    assert.equal((await store.countByStatus()).sent, 4);
  });

  test('pause stops claiming at once; resume claims again', async () => {
    await store.create([{ content: 'a', recipient_phone_number: '+1' }], new Date(clock));
    const d = new ScriptedDeliverer(() => ({
      kind: 'delivered',
      statusCode: 202,
      responseMessageId: null,
      warning: 'empty body',
    }));
    const p = pool(d, { initialState: 'paused' });
    assert.equal(await p.tick(), 0);
    p.resume();
    assert.equal(p.getState(), 'running');
    p.pause();
    assert.equal(await p.tick(), 0);
    p.resume();
    assert.equal(await p.tick(), 1);
    await settle(p);
    const [m] = (await store.list({ order: 'sent', limit: 1 })).items;
    assert.equal(m?.webhook_response_message_id, null, 'a 2xx without messageId is still delivered');
  });

  test('claims ahead of free slots: a finished delivery starts the next at once; pause and stop give them back', async () => {
    await store.create(
      Array.from({ length: 10 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    const { gates, gated } = gatedDeliverer();
    // 2 slots + 2 ready: one round claims 4 and starts 2. Timers on a clock of the test's own: the
    // outcome buffer's 10 ms flush must not store the finished one while a busy machine is slow
    const p = pool(gated, { numWorkers: 2, prefetch: 2, clock: new FakeClock(clock) });
    assert.equal(await p.tick(), 4);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.inFlightCount, 2);
    assert.equal(gates.length, 2);
    // a delivery finishes: the next ready message starts without another claim
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
    assert.equal(p.inFlightCount, 2);
    assert.equal(gates.length, 2);
    assert.equal(
      (await store.countByStatus()).processing,
      4,
      'no new claim: 1 done (not yet stored) + 2 running + 1 ready',
    );
    // pause: the one claimed but not started goes back to unsent
    p.pause();
    assert.equal(await p.tick(), 0);
    await p.flush();
    let counts = await store.countByStatus();
    assert.equal(counts.processing, 2, 'only the running two are still held');
    assert.equal(counts.unsent, 7);
    assert.equal(counts.sent, 1);
    // resume and claim ahead again; stop releases what has not started
    p.resume();
    assert.equal(await p.tick(), 2, 'room for the 2 ready slots only');
    for (const g of gates.splice(0)) g();
    const res = await p.stop(1000);
    assert.equal(res.released, 0);
    counts = await store.countByStatus();
    assert.equal(counts.processing, 0);
    assert.equal(counts.sent + counts.unsent, 10);
    assert.ok(counts.sent >= 3);
  });

  test("round sizes: an embedded store claims a full slots' worth into twice the slots ready, a server store half", async () => {
    assert.deepEqual(roundSizing(64, true, false), { prefetch: 128, minClaim: 64 });
    assert.deepEqual(roundSizing(64, false, false), { prefetch: 64, minClaim: 32 });
    assert.deepEqual(
      roundSizing(64, true, true),
      { prefetch: 0, minClaim: 16 },
      'at most once: no ready buffer',
    );
    assert.deepEqual(
      roundSizing(64, false, false, 8),
      { prefetch: 8, minClaim: 32 },
      'an explicit prefetch wins',
    );
    assert.deepEqual(roundSizing(1, false, false), { prefetch: 1, minClaim: 1 });

    await store.create(
      Array.from({ length: 40 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    // the same SQLite store, once as what it is (embedded) and once as if it were a server
    const asServer: MessageStore = Object.create(store) as MessageStore;
    Object.defineProperty(asServer, 'embedded', { value: false });
    for (const [s, first, next] of [
      [store, 12, 0],
      [asServer, 8, 2],
    ] as const) {
      const { gates, gated } = gatedDeliverer();
      const p = pool(gated, { store: s });
      assert.equal(
        await p.tick(),
        first,
        `${s.embedded ? 'embedded' : 'server'}: first round fills slots and ready buffer`,
      );
      await new Promise((r) => setImmediate(r));
      // two deliveries finish: two ready ones start; the room is 2, worth a round only on a server store
      gates.shift()?.();
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
      assert.equal(await p.tick(), next, `${s.embedded ? 'embedded' : 'server'}: a round of 2`);
      const stopping = p.stop(1000);
      for (let i = 0; i < 50 && p.inFlightCount > 0; i++) {
        for (const g of gates.splice(0)) g();
        await new Promise((r) => setImmediate(r));
      }
      await stopping;
    }
  });

  test('a store slower than the receiver holds deliveries back: at most 2 × numWorkers sent and not stored', async () => {
    await store.create(
      Array.from({ length: 16 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    const d = new ScriptedDeliverer(() => DELIVERED);
    // the real store, with its writes held at a gate while `held`
    let held = false;
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => (open = r));
    const slow: MessageStore = Object.create(store) as MessageStore;
    slow.complete = async (...args) => {
      if (held) await gate;
      return store.complete(...args);
    };
    // 4 slots and 12 ready: one round claims all 16
    const p = pool(d, { store: slow, numWorkers: 4, prefetch: 12 });
    assert.equal(await p.tick(), 16);
    held = true;
    await waitFor(() => d.calls.length >= 8 && p.inFlightCount === 0, 5000, 'the first deliveries');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(d.calls.length, 8, 'no more than 2 × 4 delivered while their outcomes cannot be stored');
    assert.equal((await store.countByStatus()).sent, 0);
    held = false;
    open();
    await waitFor(() => d.calls.length === 16 && p.inFlightCount === 0, 5000, 'the rest');
    await p.flush();
    assert.equal((await store.countByStatus()).sent, 16);
    assert.equal(new Set(d.calls.map((c) => c.webhookId)).size, 16, 'each sent once');
  });

  test('the dispatcher overlaps claim rounds against a slow store, at most concurrentRounds at once', async () => {
    const N = 200;
    await store.create(
      Array.from({ length: N }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    const d = new ScriptedDeliverer(() => DELIVERED);
    // the real store behind a 20 ms round trip, like a server under load
    let running = 0;
    let most = 0;
    const slow: MessageStore = Object.create(store) as MessageStore;
    slow.completeAndClaim = async (...args) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 20));
      try {
        return await store.completeAndClaim(...args);
      } finally {
        running--;
      }
    };
    const p = pool(d, { store: slow, numWorkers: 8, concurrentRounds: 2 });
    p.start();
    try {
      await waitFor(async () => (await store.countByStatus()).sent === N, 10_000, 'all sent');
    } finally {
      await p.stop(1000);
    }
    assert.equal(most, 2, 'two rounds were in flight at once, never more');
    assert.equal(d.calls.length, N, 'each message sent once');
    assert.equal(new Set(d.calls.map((c) => c.webhookId)).size, N);
  });

  test('outcomes of a failed round are stored by a flush even when no round follows (paused)', async () => {
    await store.create(
      [0, 1].map((i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    const { gates, gated } = gatedDeliverer();
    let fail = false;
    const flaky: MessageStore = Object.create(store) as MessageStore;
    flaky.completeAndClaim = async (...args) => {
      if (fail) throw new Error('connection terminated');
      return store.completeAndClaim(...args);
    };
    const p = pool(gated, { store: flaky, numWorkers: 2 });
    assert.equal(await p.tick(), 2);
    await waitFor(() => gates.length === 2, 5000, 'both in flight');
    gates.forEach((open) => open());
    // before the 10 ms flush: the next round carries both outcomes, and fails; then a pause
    await new Promise((r) => setImmediate(r));
    assert.equal(p.inFlightCount, 0);
    fail = true;
    await assert.rejects(p.tick(), /connection terminated/);
    assert.equal((await store.countByStatus()).sent, 0, 'the failed round stored nothing');
    p.pause();
    await waitFor(async () => (await store.countByStatus()).sent === 2, 5000, 'the outcomes stored');
    assert.equal(p.stats().sent, 2);
  });

  test('at most once: a maybe-delivered failure, a dead holder and a shutdown leave unknown, never a second send', async () => {
    await store.create(
      ['timeout', 'refused', 'hangs'].map((content) => ({ content, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    let release: (() => void) | undefined;
    const d = new ScriptedDeliverer((req) =>
      req.content === 'timeout'
        ? {
            kind: 'retryable',
            statusCode: null,
            error: 'timeout: headers',
            retryAfterMs: null,
            maybeDelivered: true,
          }
        : {
            kind: 'retryable',
            statusCode: null,
            error: 'ECONNREFUSED',
            retryAfterMs: null,
            maybeDelivered: false,
          },
    );
    const hanging: Deliverer = {
      async deliver(req) {
        if (req.content !== 'hangs') return d.deliver(req);
        await new Promise<void>((r) => (release = r));
        return DELIVERED;
      },
      async close() {},
    };
    const p = pool(hanging, { atMostOnce: true });
    assert.equal(await p.tick(), 3);
    await waitFor(() => p.inFlightCount === 1, 5000, 'two quick outcomes');
    await p.flush();
    const byContent = async (c: string) =>
      (await store.list({ order: 'created', limit: 10 })).items.find((m) => m.content === c);
    const timedOut = await byContent('timeout');
    assert.equal(timedOut?.status, 'unknown', 'a timeout after sending is not retried');
    assert.equal(timedOut?.attempts, 1);
    assert.match(timedOut?.last_error ?? '', /^outcome unknown: timeout/);
    assert.equal((await store.attempts(timedOut?.id ?? ''))[0]?.outcome, 'unknown');
    assert.equal((await byContent('refused'))?.status, 'unsent', 'nothing was sent: retried as usual');
    // shutdown before the receiver answers: unknown, not released for another send
    const res = await p.stop(50);
    assert.equal(res.released, 0);
    assert.equal((await byContent('hangs'))?.status, 'unknown');
    release?.();
    // a dead holder's expired lease: unknown too
    const [dead] = await store.claim({ owner: 'dead', limit: 1, now: new Date(clock + 10_000), leaseMs: 1 });
    clock += 20_000;
    const p2 = pool(d, { atMostOnce: true });
    await p2.tick();
    await settle(p2);
    assert.equal((await store.get(dead?.id ?? ''))?.status, 'unknown');
    assert.equal(p2.stats().claimed, 0);
    assert.equal(d.calls.filter((c) => c.content === 'timeout').length, 1, 'sent once');
  });

  test('stop lets in-flight deliveries finish within the timeout and releases the rest', async () => {
    await store.create(
      Array.from({ length: 2 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(clock),
    );
    let release: (() => void) | undefined;
    const slow: Deliverer = {
      async deliver(req) {
        // m0 is still in flight when stop() begins and finishes within its timeout; m1 does not
        if (req.content === 'm0') await new Promise((r) => setTimeout(r, 20));
        if (req.content === 'm1') await new Promise<void>((r) => (release = r));
        return DELIVERED;
      },
      async close() {},
    };
    const p = pool(slow);
    assert.equal(await p.tick(), 2);
    const res = await p.stop(100);
    assert.deepEqual(res, { finished: 1, released: 1 });
    const counts = await store.countByStatus();
    assert.equal(counts.sent, 1);
    assert.equal(counts.unsent, 1);
    assert.equal(counts.processing, 0);
    release?.();
  });
});

describe('worker pool on a fake clock (its dispatcher and timers, no waiting)', () => {
  const T0 = Date.UTC(2026, 0, 1);

  test('pause stops claiming for as long as it lasts; resume claims at once', async () => {
    const fake = new FakeClock(T0);
    await store.create(
      [1, 2, 3].map((i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(T0),
    );
    const d = new ScriptedDeliverer(() => DELIVERED);
    const p = pool(d, { clock: fake, now: undefined, pollIntervalMs: 1000 });
    assert.equal(p.phase, 'idle');
    p.start();
    assert.equal(p.phase, 'running');
    await fake.advance(10); // a claim round, three deliveries, the outcome flush after 10 ms
    assert.equal(d.calls.length, 3);
    assert.equal((await store.countByStatus()).sent, 3);
    p.pause();
    await store.create(
      [4, 5].map((i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(T0),
    );
    p.notify();
    await fake.advance(60 * 60_000); // an hour paused: the dispatcher wakes every second, claims nothing
    assert.equal(d.calls.length, 3);
    assert.equal((await store.countByStatus()).unsent, 2);
    p.resume();
    await fake.advance(10);
    assert.equal(d.calls.length, 5, 'claimed at once, not at the next poll');
    const stopping = p.stop(30_000);
    assert.equal(p.phase, 'closing');
    await fake.advance(0);
    assert.deepEqual(await stopping, { finished: 0, released: 0 });
    assert.equal(p.phase, 'stopped');
    assert.equal((await store.countByStatus()).sent, 5);
    p.start();
    assert.equal(p.phase, 'stopped', 'a stopped pool does not start again');
  });

  test('a server store (rounds overlap): a message due soon is claimed when due, not at the next poll', async () => {
    const fake = new FakeClock(T0);
    await store.create(
      [100, 250, 400].map((ms, i) => ({
        content: `due ${i}`,
        recipient_phone_number: '+1',
        send_at: new Date(T0 + ms),
      })),
      new Date(T0),
    );
    // a round trip of 5 ms, on the pool's clock: the dispatcher starts a second round while the
    // first is out, and both come back empty while the messages are not due yet
    const slow: MessageStore = Object.create(store) as MessageStore;
    slow.completeAndClaim = async (...args) => {
      await new Promise((r) => fake.setTimeout(() => r(undefined), 5));
      return store.completeAndClaim(...args);
    };
    const d = new ScriptedDeliverer(() => DELIVERED);
    const p = pool(d, {
      store: slow,
      clock: fake,
      now: undefined,
      pollIntervalMs: 1000,
      concurrentRounds: 2,
    });
    p.start();
    try {
      const sentBy = async (ms: number): Promise<number> => {
        await fake.advance(ms - (fake.now() - T0));
        return d.calls.length;
      };
      // each within a round trip or two of its send_at (before: at the next 1 s poll)
      assert.equal(await sentBy(99), 0, 'never early');
      assert.equal(await sentBy(130), 1);
      assert.equal(await sentBy(280), 2);
      assert.equal(await sentBy(430), 3);
    } finally {
      const stopping = p.stop(1000);
      await fake.advance(0);
      await stopping;
    }
  });

  test('claim ahead: held from its claim until due, sent at its due time to the millisecond, never before', async () => {
    const fake = new FakeClock(T0);
    const dues = [120, 150, 151, 400];
    await store.create(
      dues.map((ms, i) => ({
        content: `due ${i}`,
        recipient_phone_number: '+1',
        send_at: new Date(T0 + ms),
      })),
      new Date(T0),
    );
    // a 30 ms round trip: claimed when due, every message would be at least 30 ms late
    const slow: MessageStore = Object.create(store) as MessageStore;
    slow.completeAndClaim = async (...args) => {
      await new Promise((r) => fake.setTimeout(() => r(undefined), 30));
      return store.completeAndClaim(...args);
    };
    const sentAt: number[] = [];
    const d = new ScriptedDeliverer(() => {
      sentAt.push(fake.now() - T0);
      return DELIVERED;
    });
    const p = pool(d, { store: slow, clock: fake, now: undefined, pollIntervalMs: 1000, claimAheadMs: 100 });
    p.start();
    try {
      await fake.advance(119);
      assert.equal(d.calls.length, 0, 'never early');
      assert.ok((await store.countByStatus()).processing >= 3, 'the first three are claimed and held');
      await fake.advance(500 - 119);
      assert.deepEqual(sentAt, dues, 'each sent at its due time');
    } finally {
      const stopping = p.stop(1000);
      await fake.advance(0);
      await stopping;
    }
    assert.equal((await store.countByStatus()).sent, 4);
  });

  test('claim ahead: a pause gives back what is held; at most once never claims ahead', async () => {
    const fake = new FakeClock(T0);
    await store.create(
      [{ content: 'soon', recipient_phone_number: '+1', send_at: new Date(T0 + 80) }],
      new Date(T0),
    );
    const d = new ScriptedDeliverer(() => DELIVERED);
    const p = pool(d, { clock: fake, now: undefined, pollIntervalMs: 1000, claimAheadMs: 100 });
    p.start();
    await fake.advance(10);
    assert.equal((await store.countByStatus()).processing, 1, 'held');
    p.pause();
    await fake.advance(200);
    assert.equal(d.calls.length, 0, 'not sent while paused');
    assert.equal((await store.countByStatus()).unsent, 1, 'given back at the pause');
    const stopping = p.stop(1000);
    await fake.advance(0);
    await stopping;

    await store.create(
      [{ content: 'later', recipient_phone_number: '+1', send_at: new Date(T0 + 500) }],
      new Date(T0),
    );
    const once = pool(d, {
      clock: fake,
      now: undefined,
      pollIntervalMs: 1000,
      claimAheadMs: 100,
      atMostOnce: true,
    });
    once.start();
    try {
      await fake.advance(495 - (fake.now() - T0));
      assert.equal((await store.countByStatus()).processing, 0, 'at most once: nothing held');
      await fake.advance(10);
      assert.equal((await store.countByStatus()).sent, 2, 'sent when due');
    } finally {
      const s2 = once.stop(1000);
      await fake.advance(0);
      await s2;
    }
  });

  test('shutdown gives a hanging delivery pool.timeout, then releases it; the others finish', async () => {
    const fake = new FakeClock(T0);
    await store.create(
      [1, 2].map((i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
      new Date(T0),
    );
    let releaseHang: (() => void) | undefined;
    const d: Deliverer = {
      async deliver(req) {
        // m1 answers after 5 s of the fake clock; m2 never within the timeout
        if (req.content === 'm1') await new Promise((r) => fake.setTimeout(() => r(undefined), 5000));
        else await new Promise<void>((r) => (releaseHang = r));
        return DELIVERED;
      },
      async close() {},
    };
    const p = pool(d, { clock: fake, now: undefined, pollIntervalMs: 1000 });
    p.start();
    await fake.advance(1);
    assert.equal(p.inFlightCount, 2);
    const stopping = p.stop(60_000);
    await fake.advance(59_999);
    assert.equal(p.inFlightCount, 1, 'the 5 s delivery finished within the timeout');
    await fake.advance(1);
    assert.deepEqual(await stopping, { finished: 1, released: 1 });
    const counts = await store.countByStatus();
    assert.equal(counts.sent, 1);
    assert.equal(counts.unsent, 1, 'the hanging one is given back, not lost');
    releaseHang?.();
  });

  test("a dead holder's expired lease is recovered by the pool's housekeeping and delivered", async () => {
    const fake = new FakeClock(T0);
    await store.create([{ content: 'held', recipient_phone_number: '+1' }], new Date(T0));
    const [held] = await store.claim({ owner: 'dead-node', limit: 1, now: new Date(T0), leaseMs: 30_000 });
    assert.ok(held);
    const d = new ScriptedDeliverer(() => DELIVERED);
    const p = pool(d, { clock: fake, now: undefined, pollIntervalMs: 1000 });
    p.start();
    await fake.advance(29_000);
    assert.equal(d.calls.length, 0, 'not while the lease holds');
    await fake.advance(6_000); // the lease ran out at 30 s; housekeeping recovers every 5 s
    assert.equal(d.calls.length, 1);
    await fake.advance(10);
    assert.equal((await store.get(held.id))?.status, 'sent');
    const stopping = p.stop(1000);
    await fake.advance(0);
    await stopping;
  });
});

describe('worker pool over HTTP with the sink', () => {
  test('runs by itself, signs every request, and the sink sees each webhook-id once', async () => {
    const sink = new Sink({ port: 0, secret: SECRET });
    const port = await sink.start();
    const client = new WebhookClient({
      url: `http://127.0.0.1:${port}/hook`,
      timeoutMs: 5000,
      signingSecrets: [SECRET],
      connections: 8,
    });
    const N = 300;
    await store.create(
      Array.from({ length: N }, (_, i) => ({ content: `hello ${i}`, recipient_phone_number: `+90${i}` })),
      new Date(),
    );
    const p = new WorkerPool({
      store,
      deliverer: client,
      limiter: new UnlimitedRateLimiter(),
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100 },
      owner: 'node-http',
      numWorkers: 8,
      leaseMs: 60_000,
      pollIntervalMs: 50,
      initialState: 'running',
      logger: silentLogger(),
    });
    p.start();
    try {
      await waitFor(async () => (await store.countByStatus()).sent === N, 20_000, 'all sent');
      // idle: the dispatcher sleeps (poll 50 ms) instead of spinning on empty rounds
      const rounds = p.stats().rounds;
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(p.stats().rounds - rounds <= 12, `${p.stats().rounds - rounds} rounds in 500 ms of idling`);
    } finally {
      await p.stop(1000);
      await client.close();
      await sink.stop();
    }
    const stats = sink.stats();
    assert.equal(stats.accepted, N);
    assert.equal(stats.rejected_signature, 0);
    assert.equal(stats.duplicates, 0);
    assert.equal(stats.unique_webhook_ids, N);
    const d = sink.deliveries()[0];
    assert.equal(d?.signature_valid, true);
    assert.match(String(d?.webhook_id), /^msg_[0-9a-f]{24}$/);
    assert.match(String(d?.content), /^hello \d+$/);
    assert.match(String(d?.to), /^\+90\d+$/);
  });

  test('the webhook client classifies answers: 5xx/429 retryable with Retry-After, 4xx permanent, timeouts retryable and maybe delivered', async () => {
    const http = await import('node:http');
    const server = http.createServer((req, res) => {
      if (req.url === '/500') res.writeHead(500).end('boom');
      else if (req.url === '/429') res.writeHead(429, { 'retry-after': '3' }).end();
      else if (req.url === '/404') res.writeHead(404).end('nope');
      else if (req.url === '/slow') setTimeout(() => res.writeHead(202).end('{}'), 1000);
      else
        res
          .writeHead(202, { 'content-type': 'application/json' })
          .end('{"message":"Accepted","messageId":"abc"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const call = async (path: string) => {
      const c = new WebhookClient({
        url: `http://127.0.0.1:${port}${path}`,
        timeoutMs: 200,
        signingSecrets: [],
        connections: 1,
      });
      try {
        return await c.deliver({ webhookId: 'msg_1', to: '+1', content: 'x' });
      } finally {
        await c.close();
      }
    };
    try {
      assert.deepEqual(await call('/ok'), {
        kind: 'delivered',
        statusCode: 202,
        responseMessageId: 'abc',
        warning: null,
      });
      assert.deepEqual(await call('/500'), {
        kind: 'retryable',
        statusCode: 500,
        error: 'HTTP 500: boom',
        retryAfterMs: null,
        maybeDelivered: false,
      });
      assert.deepEqual(await call('/429'), {
        kind: 'retryable',
        statusCode: 429,
        error: 'HTTP 429',
        retryAfterMs: 3000,
        maybeDelivered: false,
      });
      assert.deepEqual(await call('/404'), { kind: 'permanent', statusCode: 404, error: 'HTTP 404: nope' });
      const slow = await call('/slow');
      assert.equal(slow.kind, 'retryable');
      assert.equal(slow.statusCode, null);
      assert.equal(
        slow.kind === 'retryable' && slow.maybeDelivered,
        true,
        'a timeout after sending: it may have arrived',
      );
      const closed = await new WebhookClient({
        url: 'http://127.0.0.1:9/',
        timeoutMs: 500,
        signingSecrets: [],
        connections: 1,
      }).deliver({
        webhookId: 'x',
        to: '1',
        content: 'x',
      });
      assert.equal(closed.kind, 'retryable');
      assert.equal(
        closed.kind === 'retryable' && closed.maybeDelivered,
        false,
        'connection refused: nothing was sent',
      );
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

test('a rate shared out among live nodes: each takes its part; the part follows the node count', () => {
  let nodes = 3;
  let now = 0;
  const l = new SharedOutRateLimiter({ maxTokens: 30, refillRate: 30, refillIntervalMs: 1000 }, () => nodes);
  assert.equal(l.take(DEFAULT_DESTINATION, 100, now).tokens, 10);
  assert.equal(l.take(DEFAULT_DESTINATION, 100, now).tokens, 0);
  now += 1000;
  assert.equal(l.take(DEFAULT_DESTINATION, 100, now).tokens, 10);
  // one node left: it gets the whole rate from the next step, starting from where its share was
  nodes = 1;
  assert.equal(l.take(DEFAULT_DESTINATION, 100, now).tokens, 0);
  now += 1000;
  assert.equal(l.take(DEFAULT_DESTINATION, 100, now).tokens, 30);
  // fewer tokens than nodes: each keeps a burst of one, the rate still divided
  const tiny = new SharedOutRateLimiter({ maxTokens: 2, refillRate: 2, refillIntervalMs: 120_000 }, () => 3);
  assert.equal(tiny.take(DEFAULT_DESTINATION, 5, 0).tokens, 1);
  assert.equal(tiny.take(DEFAULT_DESTINATION, 5, 120_000).tokens, 0);
  assert.equal(tiny.take(DEFAULT_DESTINATION, 5, 240_000).tokens, 1);
});

describe('failures at the default log level', () => {
  test('each retry, failure and invalid message is one warn line, at most 5 of a kind per 10 s; the rest counted', async () => {
    const lines: Record<string, unknown>[] = [];
    const { default: pino } = await import('pino');
    const { Writable } = await import('node:stream');
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    await store.create(
      [
        ...Array.from({ length: 12 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
        { content: 'y'.repeat(161), recipient_phone_number: '+2' },
      ],
      new Date(clock),
    );
    const d = new ScriptedDeliverer(() => ({
      kind: 'retryable',
      statusCode: null,
      error: 'getaddrinfo ENOTFOUND receiver.invalid',
      retryAfterMs: null,
      maybeDelivered: false,
    }));
    const p = pool(d, { logger, numWorkers: 16 });
    await p.tick();
    await settle(p);
    await p.stop(1000);
    const warn = (msg: string) => lines.filter((l) => l.level === 40 && l.msg === msg);
    const retries = warn('delivery failed; will retry');
    assert.equal(retries.length, 5, 'five of a kind in the window');
    assert.match(String(retries[0]?.error), /ENOTFOUND/);
    assert.equal(typeof retries[0]?.message_id, 'string');
    assert.equal(typeof retries[0]?.retry_at, 'string');
    const invalid = warn('message not sent: invalid content');
    assert.equal(invalid.length, 1);
    assert.match(String(invalid[0]?.reason), /161 characters/);
    // the seven held back are counted in one line (at stop: the window had not ended)
    const held = lines.filter((l) => l.level === 40 && l.not_logged !== undefined);
    assert.deepEqual(
      held.map((l) => [l.outcome, l.not_logged]),
      [['retry', 7]],
    );
    // the phone number is no log's business
    assert.ok(!JSON.stringify(lines).includes('"+1"'));

    // a new window: lines again
    clock += 10_000;
    await store.create([{ content: 'later', recipient_phone_number: '+1' }], new Date(clock));
    const p2 = pool(
      new ScriptedDeliverer(() => ({ kind: 'permanent', statusCode: 410, error: 'HTTP 410' })),
      { logger },
    );
    await p2.tick();
    await settle(p2);
    await p2.stop(1000);
    // those due again and the new one end with a 410: five lines, and one line counting the rest
    assert.equal(warn('delivery failed; no more attempts').length, 5);
    const heldFailed = lines.find((l) => l.outcome === 'failed' && l.not_logged !== undefined);
    assert.ok(Number(heldFailed?.not_logged) >= 1, 'what the second window held back is counted');
  });
});
