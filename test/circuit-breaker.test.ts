import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { postgresFactory, sqliteFactory } from './helpers/services.js';
import { silentLogger } from '../src/logging/logger.js';
import { CircuitBreakers, type BreakerEvent } from '../src/destinations/circuit-breaker.js';
import { SlowDown, RECOVER_STEP_MS } from '../src/destinations/slow-down.js';
import { AttemptWindow } from '../src/destinations/attempt-window.js';
import { answerOf } from '../src/worker/attempt.js';
import { plainSpec, type Destination } from '../src/domain/destination.js';
import type { MessageStore } from '../src/store/store.js';
import type { BreakerSettings } from '../src/config/types.js';

const SETTINGS: BreakerSettings = {
  failureRatio: 0.5,
  minRequests: 10,
  windowMs: 60_000,
  consecutiveFailures: 5,
  openForMs: 30_000,
};
const DAY = 86_400_000;

for (const factory of [sqliteFactory(), postgresFactory()]) {
  describe(`circuit breaker on ${factory.name}`, { skip: !factory.available && 'not configured' }, () => {
    let store: MessageStore;
    let drop: () => Promise<void>;
    let clock: number;
    let dest: Destination;
    const events: Array<{ node: string; e: BreakerEvent }> = [];
    const disabled: string[] = [];

    const node = (owner: string, settings = SETTINGS, disableAfterMs = 5 * DAY) => {
      const b = new CircuitBreakers({
        store: store.health,
        destinations: store.destinations,
        settings,
        disableAfterMs,
        owner,
        now: () => clock,
        logger: silentLogger(),
        onCircuitChange: () => undefined,
        onDisabled: (d) => disabled.push(`${owner}:${d.id}:${d.status}`),
        onEvent: (e) => events.push({ node: owner, e }),
      });
      made.push(b);
      return b;
    };

    const made: CircuitBreakers[] = [];
    /** The breakers' writes (started without awaiting, as the pool does) have reached the store. */
    const settle = () => Promise.all(made.map((b) => b.idle()));

    beforeEach(async () => {
      made.length = 0;
      ({ store, drop } = await factory.create());
      clock = Date.UTC(2027, 0, 1);
      dest = await store.destinations.createDestination(
        'billing',
        plainSpec('http://127.0.0.1:9/b'),
        new Date(clock),
      );
      events.length = 0;
      disabled.length = 0;
    });
    afterEach(async () => {
      await drop();
    });

    test('the failure ratio opens it only with the minimum count in the window; 429/503 count for neither side', async () => {
      const b = node('n1', { ...SETTINGS, consecutiveFailures: 0 });
      for (let i = 0; i < 20; i++) b.observe(dest, 'slow', clock, 'HTTP 429');
      for (let i = 0; i < 4; i++) {
        b.observe(dest, 'ok', clock, null);
        b.observe(dest, 'fail', clock, 'HTTP 500');
      }
      await settle();
      // 4 of 8 failed: half, but fewer than minRequests
      assert.equal((await store.health.getCircuit('billing'))?.state ?? 'closed', 'closed');
      assert.equal((await b.admit('billing', clock)).kind, 'closed');
      b.observe(dest, 'fail', clock, 'HTTP 500');
      await settle();
      b.observe(dest, 'ok', clock, null);
      await settle();
      // 5 of 10 failed now (the ok after it came after the opening)
      b.observe(dest, 'fail', clock + 1, 'HTTP 502');
      await settle();
      const c = await store.health.getCircuit('billing');
      assert.equal(c?.state, 'open');
      assert.deepEqual(
        events.map((x) => x.e.type),
        ['destination.circuit_opened'],
      );
      const opened = events[0]?.e;
      assert.ok(
        opened?.type === 'destination.circuit_opened' && /of 1\d attempts failed/.test(opened.reason),
      );
      assert.deepEqual(await b.admit('billing', clock + 2), { kind: 'wait', until: clock + 1 + 30_000 });
      assert.equal(b.blocks('billing', clock + 2), true);
    });

    test('a run of failures opens it; two nodes that decide it at once open it once, and both hold', async () => {
      const a = node('n1');
      const b = node('n2');
      for (let i = 0; i < 4; i++) {
        a.observe(dest, 'fail', clock, 'timeout');
        b.observe(dest, 'fail', clock, 'timeout');
        await settle();
      }
      a.observe(dest, 'fail', clock, 'timeout');
      b.observe(dest, 'fail', clock, 'timeout');
      await settle();
      await a.load();
      await b.load();
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.equal(events[0]?.e.type, 'destination.circuit_opened');
      assert.match((events[0]?.e as { reason: string }).reason, /5 failures in a row; last: timeout/);
      assert.equal((await a.admit('billing', clock + 10)).kind, 'wait');
      assert.equal((await b.admit('billing', clock + 10)).kind, 'wait');
    });

    test('after openFor one node takes the probe; its success closes the circuit, its failure opens it again', async () => {
      const a = node('n1');
      const b = node('n2');
      for (let i = 0; i < 5; i++) a.observe(dest, 'fail', clock, 'HTTP 500');
      await settle();
      await b.load();
      clock += 30_000;
      const [pa, pb] = await Promise.all([a.admit('billing', clock), b.admit('billing', clock)]);
      assert.deepEqual([pa.kind, pb.kind].sort(), ['probe', 'wait'], 'one probe for the cluster');
      const [prober, other] = pa.kind === 'probe' ? [a, b] : [b, a];
      await other.load();
      assert.equal(other.blocks('billing', clock), true);
      assert.equal(prober.blocks('billing', clock), false);
      // the probe fails: open again for openFor
      prober.observe(dest, 'fail', clock + 100, 'HTTP 500');
      await settle();
      let c = await store.health.getCircuit('billing');
      assert.equal(c?.state, 'open');
      assert.equal(c?.until?.getTime(), clock + 100 + 30_000);
      // the next probe succeeds: closed, one event
      clock += 30_100;
      assert.equal((await prober.admit('billing', clock)).kind, 'probe');
      prober.observe(dest, 'ok', clock + 5, null);
      await settle();
      c = await store.health.getCircuit('billing');
      assert.equal(c?.state, 'closed');
      assert.equal(c?.failing_since, null);
      assert.deepEqual(
        events.map((x) => x.e.type),
        ['destination.circuit_opened', 'destination.circuit_closed'],
      );
      await other.load();
      assert.equal((await other.admit('billing', clock + 10)).kind, 'closed');
    });

    test('a probe whose node went away runs out, and another node takes it', async () => {
      const a = node('n1');
      const b = node('n2');
      for (let i = 0; i < 5; i++) a.observe(dest, 'fail', clock, 'HTTP 500');
      await settle();
      clock += 30_000;
      assert.equal((await a.admit('billing', clock)).kind, 'probe');
      await b.load();
      assert.equal((await b.admit('billing', clock + 1000)).kind, 'wait');
      // n1 never answers (it died): its turn ends after openFor
      assert.equal((await b.admit('billing', clock + 30_000)).kind, 'probe');
    });

    test('failing without a success for disableAfter disables it once, with the reason; a success ends the failing time', async () => {
      const a = node('n1', { ...SETTINGS, consecutiveFailures: 0, minRequests: 1000 }, 2 * DAY);
      const b = node('n2', { ...SETTINGS, consecutiveFailures: 0, minRequests: 1000 }, 2 * DAY);
      a.observe(dest, 'fail', clock, 'HTTP 500');
      await settle();
      assert.equal((await store.health.getCircuit('billing'))?.failing_since?.getTime(), clock);
      // a success in between starts the count again
      await a.load();
      a.observe(dest, 'ok', clock + DAY, null);
      await settle();
      assert.equal((await store.health.getCircuit('billing'))?.failing_since, null);
      a.observe(dest, 'fail', clock + DAY + 1, 'HTTP 500');
      await settle();
      await b.load();
      a.observe(dest, 'fail', clock + 2 * DAY, 'HTTP 500');
      await settle();
      assert.equal((await store.destinations.getDestination('billing'))?.status, 'active');
      await a.load();
      await b.load();
      a.observe(dest, 'fail', clock + 3 * DAY + 1, 'HTTP 410');
      b.observe(dest, 'fail', clock + 3 * DAY + 1, 'HTTP 410');
      await settle();
      const d = await store.destinations.getDestination('billing');
      assert.equal(d?.status, 'disabled');
      assert.match(
        d?.disabled_reason ?? '',
        /failing without a success since .*destinations\.disableAfter.*HTTP 410/,
      );
      assert.equal(disabled.length, 1, 'disabled once across the nodes');
      assert.deepEqual(
        events.map((x) => x.e.type),
        ['destination.disabled'],
      );
    });

    test('disableAfter 0 never disables', async () => {
      const a = node('n1', { ...SETTINGS, consecutiveFailures: 0, minRequests: 1000 }, 0);
      a.observe(dest, 'fail', clock, 'HTTP 500');
      await settle();
      await a.load();
      a.observe(dest, 'fail', clock + 365 * DAY, 'HTTP 500');
      await settle();
      assert.equal((await store.destinations.getDestination('billing'))?.status, 'active');
    });
  });
}

describe('slow-down', () => {
  test('429/503 halve the rate at most once a second; it recovers by half every step, back to its own limit', () => {
    const s = new SlowDown();
    const t = 1_000_000;
    const own = { max: 20, perMs: 10 / 1000 };
    assert.deepEqual(s.rate('d', own, t), own);
    s.cut('d', own, 10 / 1000, null, t);
    assert.equal(s.perSecond('d', t), 5);
    s.cut('d', own, 10 / 1000, null, t + 500); // the same burst
    assert.equal(s.perSecond('d', t + 500), 5);
    s.cut('d', own, 10 / 1000, null, t + 1000);
    assert.equal(s.perSecond('d', t + 1000), 2.5);
    assert.deepEqual(s.rate('d', own, t + 1000), { max: 1, perMs: 2.5 / 1000 });
    assert.equal(s.perSecond('d', t + 1000 + RECOVER_STEP_MS), 3.75);
    assert.equal(s.perSecond('d', t + 1000 + 2 * RECOVER_STEP_MS), 5.625);
    // 8.4375 then 10: back to its own bucket, burst included
    assert.deepEqual(s.rate('d', own, t + 1000 + 4 * RECOVER_STEP_MS), own);
    assert.equal(s.perSecond('d', t + 1000 + 4 * RECOVER_STEP_MS), null);
  });

  test('without a limit of its own it halves what it was sent at, and a Retry-After holds its lane', () => {
    const s = new SlowDown();
    const t = 1_000_000;
    s.cut('d', null, 200 / 1000, 3000, t);
    assert.equal(s.perSecond('d', t), 100);
    assert.equal(s.heldUntil('d', t + 10), t + 3000);
    assert.equal(s.heldUntil('d', t + 3000), 0);
    // an absurd Retry-After holds the lane 10 minutes at most
    s.cut('d', null, 0, 86_400_000, t + 2000);
    assert.equal(s.heldUntil('d', t + 2000), t + 2000 + 600_000);
    // never below one a minute
    for (let i = 0; i < 40; i++) s.cut('d', null, 0, null, t + 3000 + i * 1000);
    assert.ok((s.perSecond('d', t + 43_000) ?? 0) >= 1 / 60 - 1e-9);
  });

  test('the attempt window counts by verdict over its span and the run of failures', () => {
    const w = new AttemptWindow(10_000);
    const t = 5_000_000;
    w.add('fail', t);
    w.add('fail', t + 10);
    w.add('slow', t + 20);
    assert.equal(w.consecutive, 2);
    w.add('ok', t + 1500);
    assert.equal(w.consecutive, 0);
    assert.deepEqual(w.counts(t + 2000), { ok: 1, fail: 2, slow: 1 });
    assert.equal(w.rate(t + 2000, 5000), 4 / 5000);
    assert.deepEqual(w.counts(t + 10_500), { ok: 1, fail: 0, slow: 0 });
  });

  test('what an answer tells: 2xx ok, 429/503 slow (with Retry-After), any other answer or none a failure', () => {
    assert.equal(
      answerOf({ kind: 'delivered', statusCode: 204, responseMessageId: null, warning: null }).verdict,
      'ok',
    );
    assert.deepEqual(
      answerOf({
        kind: 'retryable',
        statusCode: 429,
        error: 'HTTP 429',
        retryAfterMs: 2000,
        maybeDelivered: false,
      }),
      {
        verdict: 'slow',
        retryAfterMs: 2000,
        error: 'HTTP 429',
      },
    );
    assert.equal(
      answerOf({
        kind: 'retryable',
        statusCode: 503,
        error: 'HTTP 503',
        retryAfterMs: null,
        maybeDelivered: false,
      }).verdict,
      'slow',
    );
    assert.equal(
      answerOf({
        kind: 'retryable',
        statusCode: 500,
        error: 'HTTP 500',
        retryAfterMs: null,
        maybeDelivered: true,
      }).verdict,
      'fail',
    );
    assert.equal(
      answerOf({
        kind: 'retryable',
        statusCode: null,
        error: 'timeout',
        retryAfterMs: null,
        maybeDelivered: true,
      }).verdict,
      'fail',
    );
    assert.equal(answerOf({ kind: 'permanent', statusCode: 410, error: 'HTTP 410' }).verdict, 'fail');
  });
});
