import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewMessage } from '../../src/domain/message.js';
import type { Completion, Cursor } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const msg = (recipient: string, extra: Partial<NewMessage> = {}): NewMessage => ({
  content: `to ${recipient}`,
  recipient_phone_number: recipient,
  ...extra,
});

function failed(id: string, owner: string, when: Date): Completion {
  return {
    id,
    owner,
    outcome: { kind: 'failed', error: 'HTTP 500' },
    attempt: {
      message_id: id,
      attempt: 1,
      started_at: when,
      latency_ms: 4,
      status_code: 500,
      error: 'HTTP 500',
      outcome: 'failed',
    },
  };
}

/** What the dashboard reads of every store: bounded counts, lists by recipient and time, who made an attempt, each node's activity. */
export function dashboardContract(factory: StoreFactory): void {
  contractSuite('dashboard contract', factory, (store) => {
    test('counts by status to a cap: each status at most cap + 1, exact below it, both unsent lanes counted', async () => {
      const s = store();
      await s.create(
        [1, 2, 3, 4, 5].map((i) => msg(`+1${i}`)),
        at(0),
      );
      await s.create(
        [1, 2, 3].map((i) => msg(`+2${i}`, { destination_id: 'd1' })),
        at(0),
      );
      const made = await s.create([msg('+31'), msg('+32')], at(0));
      for (const m of made) assert.equal((await s.cancel(m.message.id, at(1))).result, 'cancelled');
      const exact = await s.countByStatus();
      assert.equal(exact.unsent, 8);
      assert.equal(exact.cancelled, 2);
      const capped = await s.countByStatus(3);
      assert.equal(capped.unsent, 4, 'more than the cap: cap + 1');
      assert.equal(capped.cancelled, 2, 'below the cap: exact');
      assert.equal(capped.sent, 0);
      assert.deepEqual(await s.countByStatus(100), exact, 'a cap above every count changes nothing');
    });

    test('lists one recipient’s messages, newest first, from a time on, page by page', async () => {
      const s = store();
      for (let i = 0; i < 6; i++) {
        await s.create(
          [msg('+900', { content: `r ${i}` }), msg('+901', { content: `other ${i}` })],
          at(i * 1000),
        );
      }
      const all = await s.list({ order: 'created', recipient: '+900', limit: 10 });
      assert.deepEqual(
        all.items.map((m) => m.content),
        ['r 5', 'r 4', 'r 3', 'r 2', 'r 1', 'r 0'],
      );
      const since = await s.list({ order: 'created', recipient: '+900', since: at(3000), limit: 2 });
      assert.deepEqual(
        since.items.map((m) => m.content),
        ['r 5', 'r 4'],
      );
      const next = await s.list({
        order: 'created',
        recipient: '+900',
        since: at(3000),
        limit: 2,
        after: since.next as Cursor,
      });
      assert.deepEqual(
        next.items.map((m) => m.content),
        ['r 3'],
        'the range ends at its start, inclusive',
      );
      assert.equal(next.next, null);
      // the end of a range is a cursor: created before it
      const before = await s.list({ order: 'created', limit: 10, after: { at: at(2000), id: '' } });
      assert.deepEqual(before.items.map((m) => m.content).sort(), ['other 0', 'other 1', 'r 0', 'r 1']);
      const byStatus = await s.list({ order: 'created', status: 'unsent', recipient: '+901', limit: 3 });
      assert.deepEqual(
        byStatus.items.map((m) => m.content),
        ['other 5', 'other 4', 'other 3'],
      );
      const due = await s.list({ order: 'due', status: 'unsent', recipient: '+901', limit: 10 });
      assert.equal(due.items.length, 6);
      assert.ok(due.items.every((m) => m.recipient_phone_number === '+901'));
    });

    test('an attempt names the node that made it; each heartbeat carries the node’s activity', async () => {
      const s = store();
      const [made] = await s.create([msg('+1')], at(0));
      const id = made?.message.id ?? '';
      const [claimed] = await s.claim({ owner: 'node-a', limit: 1, now: at(10), leaseMs: 60_000 });
      assert.equal(claimed?.id, id);
      assert.deepEqual(await s.complete([failed(id, 'node-a', at(20))], at(30)), [id]);
      const [attempt] = await s.attempts(id);
      assert.equal(attempt?.node, 'node-a');

      const activity = {
        from: 60_000,
        delivered: [3, 0],
        failed: [1, 2],
        retried: [0, 5],
        lateness_p99_ms: [12, null],
      };
      const info = {
        id: 'node-a',
        role: 'all',
        state: 'running',
        in_flight: 0,
        version: '1',
        started_at: at(0),
      };
      await s.control.heartbeat({ ...info, activity }, at(40));
      await s.control.heartbeat({ ...info, id: 'node-b' }, at(40));
      const nodes = await s.control.listNodes();
      assert.deepEqual(nodes.find((n) => n.id === 'node-a')?.activity, activity);
      assert.equal(nodes.find((n) => n.id === 'node-b')?.activity, null);
    });
  });
}
