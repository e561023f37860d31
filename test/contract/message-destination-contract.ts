import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewMessage } from '../../src/domain/message.js';
import type { Completion } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

const msg = (i: number, extra: Partial<NewMessage> = {}): NewMessage => ({
  content: `hello ${i}`,
  recipient_phone_number: `+90555${String(i).padStart(7, '0')}`,
  ...extra,
});

/** Messages and their destinations: where each goes, fan-out groups, claims that leave a destination out. */
export function messageDestinationContract(factory: StoreFactory): void {
  contractSuite('message destination contract', factory, (store) => {
    test('a message keeps its destination, group and topic; none means the default destination', async () => {
      const s = store();
      const [a, b, c] = await s.create(
        [
          msg(1),
          msg(2, { destination_id: 'billing', group_id: 'g1', topic: 'invoice.paid' }),
          msg(3, { destination_id: 'crm', group_id: 'g1', topic: 'invoice.paid' }),
        ],
        T0,
      );
      assert.equal(a?.message.destination_id, null);
      const got = await s.get(b?.message.id ?? '');
      assert.equal(got?.destination_id, 'billing');
      assert.equal(got?.group_id, 'g1');
      assert.equal(got?.topic, 'invoice.paid');
      assert.equal((await s.get(a?.message.id ?? ''))?.group_id, null);

      const group = await s.list({ order: 'created', limit: 10, group: 'g1' });
      assert.deepEqual(group.items.map((m) => m.id).sort(), [b?.message.id, c?.message.id].sort());
      const billing = await s.list({ order: 'created', limit: 10, destination: 'billing' });
      assert.deepEqual(
        billing.items.map((m) => m.id),
        [b?.message.id],
      );
      const byDefault = await s.list({ order: 'created', limit: 10, destination: 'default' });
      assert.deepEqual(
        byDefault.items.map((m) => m.id),
        [a?.message.id],
      );
      // the due order filters too, and pages through its cursor
      const due = await s.list({ order: 'due', status: 'unsent', limit: 1, destination: 'crm' });
      assert.deepEqual(
        due.items.map((m) => m.id),
        [c?.message.id],
      );
      assert.equal(due.next, null);
      const dueAll = await s.list({ order: 'due', status: 'unsent', limit: 1, group: 'g1' });
      assert.ok(dueAll.next);
      const second = await s.list({
        order: 'due',
        status: 'unsent',
        limit: 1,
        group: 'g1',
        after: dueAll.next,
      });
      assert.equal(second.items.length, 1);
      assert.notEqual(second.items[0]?.id, dueAll.items[0]?.id);
    });

    test('a claim leaves out the excluded destinations and hands back each message’s destination', async () => {
      const s = store();
      await s.create(
        [
          msg(1),
          msg(2, { destination_id: 'paused-one' }),
          msg(3, { destination_id: 'live' }),
          msg(4, { destination_id: 'paused-one' }),
        ],
        T0,
      );
      const first = await s.claim({
        owner: 'n1',
        limit: 10,
        now: at(1),
        leaseMs: 60_000,
        exclude: ['paused-one'],
      });
      assert.deepEqual(first.map((m) => m.destination_id).sort(), ['live', null].sort());
      // `default` stands for the messages with no destination of their own
      await s.create([msg(5), msg(6, { destination_id: 'live' })], at(2));
      const second = await s.completeAndClaim(
        [],
        { owner: 'n1', limit: 10, now: at(3), leaseMs: 60_000, exclude: ['default', 'paused-one'] },
        at(3),
      );
      assert.deepEqual(
        second.claimed.map((m) => m.destination_id),
        ['live'],
      );
      const rest = await s.claim({ owner: 'n1', limit: 10, now: at(4), leaseMs: 60_000 });
      assert.deepEqual(rest.map((m) => m.destination_id).sort(), [null, 'paused-one', 'paused-one'].sort());
    });

    test('an attempt records the destination and the URL it went to', async () => {
      const s = store();
      const [r] = await s.create([msg(1, { destination_id: 'billing' })], T0);
      const id = r?.message.id ?? '';
      await s.claim({ owner: 'n1', limit: 1, now: at(1), leaseMs: 60_000 });
      const done: Completion = {
        id,
        owner: 'n1',
        outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: at(2) },
        attempt: {
          message_id: id,
          attempt: 1,
          started_at: at(1),
          latency_ms: 4,
          status_code: 200,
          error: null,
          outcome: 'sent',
          destination_id: 'billing',
          url: 'https://billing.example/hooks?x=1',
        },
      };
      assert.deepEqual(
        await s.completeAndClaim([done], { owner: 'n1', limit: 1, now: at(3), leaseMs: 1000 }, at(3)),
        {
          applied: [id],
          claimed: [],
        },
      );
      const [a] = await s.attempts(id);
      assert.equal(a?.destination_id, 'billing');
      assert.equal(a?.url, 'https://billing.example/hooks?x=1');
    });
  });
}
