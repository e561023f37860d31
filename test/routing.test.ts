import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { DestinationRegistry } from '../src/destinations/registry.js';
import { builtinDestination } from '../src/domain/destination.js';
import { Routing } from '../src/worker/routing.js';
import { silentLogger } from '../src/logging/logger.js';
import type { ClaimedMessage } from '../src/store/store.js';

const retry = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };
const message = (destination_id: string | null): ClaimedMessage => ({
  id: '6b0000000000000000000001',
  webhook_id: 'msg_6b0000000000000000000001',
  content: 'x',
  recipient_phone_number: '+1',
  attempts: 0,
  priority: 0,
  due_at: new Date(),
  created_at: new Date(),
  lease_expires_at: null,
  trace_context: null,
  destination_id,
});

test('routes: default, a destination with the secrets that sign now, a deleted one, and a store that does not answer', async () => {
  const store = new SqliteStore({ path: ':memory:' });
  await store.init();
  const builtin = builtinDestination(
    { url: 'https://user:pw@hooks.example/in', timeoutMs: 7000, signingSecrets: [], retry },
    new Date(),
  );
  const registry = new DestinationRegistry({
    store: store.destinations,
    builtin,
    refreshMs: 60_000,
    logger: silentLogger(),
  });
  await registry.start();
  try {
    const now = Date.now();
    await store.destinations.createDestination(
      'crm',
      {
        url: 'https://crm.example/hook?k=1',
        description: '',
        headers: { 'x-a': 'b' },
        secrets: [
          { secret: 'whsec_b2xk', expires_at: new Date(now - 1000) },
          { secret: 'whsec_bmV3', expires_at: new Date(now + 60_000) },
        ],
        timeout_ms: null,
        rate_limit: null,
        max_in_flight: null,
        retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 20, max_age_ms: 3_600_000 },
        topics: [],
        metadata: {},
      },
      new Date(),
    );
    const routing = new Routing(registry, retry);
    const d = routing.route(message(null), now);
    assert.ok(!(d instanceof Promise) && d.kind === 'deliver');
    assert.equal(d.target, undefined, 'default keeps the configured client');
    assert.equal(d.url, 'https://hooks.example/in', 'no credentials recorded');
    assert.equal(d.retry, retry);
    // made on "another node": not in the copy yet, read from the store
    const crm = await routing.route(message('crm'), now);
    assert.equal(crm.kind, 'deliver');
    if (crm.kind === 'deliver') {
      assert.deepEqual(crm.target, {
        url: 'https://crm.example/hook?k=1',
        headers: { 'x-a': 'b' },
        secrets: ['whsec_bmV3'],
        timeoutMs: 7000,
      });
      assert.deepEqual(crm.retry, { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 });
      assert.equal(crm.maxAgeMs, 3_600_000);
    }
    // the second secret expires too: the target is built again without it
    const later = routing.route(message('crm'), now + 120_000);
    assert.ok(!(later instanceof Promise) && later.kind === 'deliver');
    assert.deepEqual(later.target?.secrets, []);
    const gone = await routing.route(message('ghost'), now);
    assert.equal(gone.kind, 'gone');
    await store.close();
    const unread = await routing.route(message('other'), now);
    assert.deepEqual(unread, {
      kind: 'hold',
      reason: 'not sent: destination other could not be read from the store',
    });
  } finally {
    registry.close();
    await store.close();
  }
});
