import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODE_LOST_ERROR } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const node = (id: string, extra: Partial<{ state: string; in_flight: number }> = {}) => ({
  id,
  role: 'all',
  state: 'running',
  in_flight: 0,
  version: '1.2.3',
  started_at: T0,
  ...extra,
});

/** The cluster part of the storage contract: shared pool state, heartbeats, a dead node's leases. */
export function controlStoreContract(factory: StoreFactory): void {
  contractSuite('control store contract', factory, (store) => {
    test('the pool state is null until set, then the last one set, with who and when', async () => {
      assert.equal(await store().control.getPoolState(), null);
      await store().control.setPoolState('paused', 'ops-bot', at(1));
      await store().control.setPoolState('running', 'node-2', at(2));
      await store().control.setPoolState('paused', 'ci', at(3));
      assert.deepEqual(await store().control.getPoolState(), {
        state: 'paused',
        updated_at: at(3),
        updated_by: 'ci',
      });
    });

    test('heartbeats insert, then update, each node row; removed rows are gone', async () => {
      await store().control.heartbeat(node('b'), at(10));
      await store().control.heartbeat(node('a'), at(10));
      await store().control.heartbeat(node('a', { state: 'paused', in_flight: 7 }), at(20));
      const rows = await store().control.listNodes();
      assert.deepEqual(
        rows.map((r) => [
          r.id,
          r.state,
          r.in_flight,
          r.last_seen.getTime(),
          r.started_at.getTime(),
          r.version,
          r.role,
        ]),
        [
          ['a', 'paused', 7, at(20).getTime(), T0.getTime(), '1.2.3', 'all'],
          ['b', 'running', 0, at(10).getTime(), T0.getTime(), '1.2.3', 'all'],
        ],
      );
      await store().control.removeNodes(['a', 'nonesuch']);
      await store().control.removeNodes([]);
      assert.deepEqual(
        (await store().control.listNodes()).map((r) => r.id),
        ['b'],
      );
    });

    test("a dead owner's leases go back at once (unsent, or unknown at most once); a live owner's stay", async () => {
      await store().create(
        Array.from({ length: 6 }, (_, i) => ({
          content: `m${i}`,
          recipient_phone_number: `+9055500000${i}`,
        })),
        T0,
      );
      const dead = await store().claim({ owner: 'dead', limit: 2, now: at(1), leaseMs: 600_000 });
      const dead2 = await store().claim({ owner: 'dead-2', limit: 2, now: at(1), leaseMs: 600_000 });
      const live = await store().claim({ owner: 'live', limit: 2, now: at(1), leaseMs: 600_000 });
      assert.equal(dead.length + dead2.length + live.length, 6);
      assert.equal(await store().recoverOwners([], at(2)), 0);
      assert.equal(await store().recoverOwners(['dead'], at(2)), 2);
      assert.equal(await store().recoverOwners(['dead-2'], at(2), 'unknown'), 2);
      for (const m of dead) {
        const got = await store().get(m.id);
        assert.equal(got?.status, 'unsent');
        assert.equal(got?.lease_owner, null);
      }
      for (const m of dead2) {
        const got = await store().get(m.id);
        assert.equal(got?.status, 'unknown');
        assert.equal(got?.last_error, NODE_LOST_ERROR);
      }
      for (const m of live) assert.equal((await store().get(m.id))?.status, 'processing');
      // the dead owner's late outcome is refused: its lease is gone
      const applied = await store().complete(
        dead.map((m) => ({
          id: m.id,
          owner: 'dead',
          outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: at(3) },
          attempt: {
            message_id: m.id,
            attempt: 1,
            started_at: at(1),
            latency_ms: 1,
            status_code: 200,
            error: null,
            outcome: 'sent',
          },
        })),
        at(3),
      );
      assert.deepEqual(applied, []);
      // recovered messages are claimable again
      assert.equal(
        (await store().claim({ owner: 'live', limit: 10, now: at(4), leaseMs: 600_000 })).length,
        2,
      );
    });
  });
}
