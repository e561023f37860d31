/**
 * OutcomeBuffer (src/worker/outcome-buffer.ts) against a real SQLite store: outcomes wait for a
 * claim round, a flush stores them alone when none comes, a refused batch goes back first in
 * line and is retried, and what is not stored yet is always accounted for.
 */
import { clockWithNow } from '../src/domain/clock.js';
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { sqliteFactory } from './helpers/services.js';
import { waitFor } from './helpers/app.js';
import { silentLogger } from '../src/logging/logger.js';
import { OutcomeBuffer, type PendingOutcome } from '../src/worker/outcome-buffer.js';
import type { ClaimedMessage, MessageStore } from '../src/store/store.js';

let store: MessageStore;
let drop: () => Promise<void>;
const now = Date.UTC(2026, 0, 1);

beforeEach(async () => {
  ({ store, drop } = await sqliteFactory().create());
});
afterEach(async () => {
  await drop();
});

async function claimed(n: number): Promise<ClaimedMessage[]> {
  await store.create(
    Array.from({ length: n }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
    new Date(now),
  );
  return store.claim({ owner: 'node-a', limit: n, now: new Date(now), leaseMs: 60_000 });
}

const sent = (message: ClaimedMessage): PendingOutcome => ({
  message,
  completion: {
    id: message.id,
    owner: 'node-a',
    outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: new Date(now) },
    attempt: null,
  },
});

test('a refused batch goes back first in line and a flush retries it; waiting and being written both count as not stored', async () => {
  const [a, b, c] = await claimed(3);
  assert.ok(a && b && c);
  let refuse = 1;
  const calls: string[][] = [];
  const flaky = Object.create(store) as MessageStore;
  flaky.complete = async (completions, at) => {
    calls.push(completions.map((x) => x.id));
    if (refuse-- > 0) throw new Error('connection terminated');
    return store.complete(completions, at);
  };
  const stored: string[][] = [];
  const buffer = new OutcomeBuffer({
    store: flaky,
    clock: clockWithNow(() => now),
    logger: silentLogger(),
    onStored: (batch, applied) => {
      assert.deepEqual(
        applied,
        batch.map((p) => p.message.id),
      );
      stored.push(applied);
    },
    giveUp: () => false,
    // long enough that the round below takes them first
    flushAfterMs: 1000,
    retryAfterMs: 20,
  });
  buffer.add(sent(a));
  buffer.add(sent(b));
  assert.equal(buffer.unstored, 2);
  // a claim round takes them: still not stored while it writes
  const round = buffer.take();
  assert.equal(round.length, 2);
  assert.equal(buffer.unstored, 2);
  assert.deepEqual(buffer.messageIds().sort(), [a.id, b.id].sort());
  buffer.add(sent(c));
  assert.equal(buffer.unstored, 3);
  // the round's store call failed: its batch goes back ahead of what came since
  buffer.putBack(round, new Error('connection reset'));
  assert.equal(buffer.unstored, 3);
  assert.deepEqual(buffer.messageIds(), [a.id, b.id, c.id]);
  await buffer.flush();
  assert.deepEqual(calls, [
    [a.id, b.id, c.id],
    [a.id, b.id, c.id],
  ]);
  assert.deepEqual(stored, [[a.id, b.id, c.id]]);
  assert.equal(buffer.unstored, 0);
  assert.equal((await store.countByStatus()).sent, 3);
  buffer.cancelTimer();
});

test('with no claim round, a flush stores them within flushAfterMs; shutting down, a refused flush gives up and keeps them', async () => {
  const [a, b] = await claimed(2);
  assert.ok(a && b);
  let down = false;
  const flaky = Object.create(store) as MessageStore;
  flaky.complete = async (completions, at) => {
    if (down) throw new Error('connection terminated');
    return store.complete(completions, at);
  };
  let closing = false;
  const buffer = new OutcomeBuffer({
    store: flaky,
    clock: clockWithNow(() => now),
    logger: silentLogger(),
    onStored: () => undefined,
    giveUp: () => closing,
    flushAfterMs: 5,
  });
  buffer.add(sent(a));
  await waitFor(async () => (await store.countByStatus()).sent === 1, 2000, 'stored by the timed flush');
  assert.equal(buffer.unstored, 0);
  down = true;
  closing = true;
  buffer.add(sent(b));
  buffer.cancelTimer();
  await buffer.flush();
  assert.equal(buffer.unstored, 1, 'kept, not lost');
  assert.deepEqual(buffer.messageIds(), [b.id]);
  assert.equal((await store.countByStatus()).sent, 1);
});
