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

/** Messages and their destinations: where each goes, fan-out groups, claims by lane. */
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

    test('a claim takes `default` by its limit and each destination by its lane, and no other destination', async () => {
      const s = store();
      await s.create(
        [
          msg(1),
          msg(2, { destination_id: 'held' }),
          msg(3, { destination_id: 'live' }),
          msg(4, { destination_id: 'held' }),
          msg(5, { destination_id: 'live' }),
          msg(6, { destination_id: 'live' }),
        ],
        T0,
      );
      // no lanes: `default`'s messages only
      const first = await s.claim({ owner: 'n1', limit: 10, now: at(1), leaseMs: 60_000 });
      assert.deepEqual(
        first.map((m) => m.destination_id),
        [null],
      );
      // a lane takes at most its limit, in delivery order; a destination without a lane is not read
      await s.create([msg(7), msg(8)], at(2));
      const second = await s.completeAndClaim(
        [],
        {
          owner: 'n1',
          limit: 1,
          now: at(3),
          leaseMs: 60_000,
          lanes: [
            { destination: 'live', limit: 2 },
            { destination: 'nobody', limit: 5 },
            { destination: 'held', limit: 0 },
          ],
        },
        at(3),
      );
      assert.deepEqual(second.claimed.map((m) => `${m.destination_id ?? 'default'} ${m.content}`).sort(), [
        'default hello 7',
        'live hello 3',
        'live hello 5',
      ]);
      // `default`'s limit 0 with lanes: only the lanes
      const third = await s.claim({
        owner: 'n1',
        limit: 0,
        now: at(4),
        leaseMs: 60_000,
        lanes: [
          { destination: 'live', limit: 5 },
          { destination: 'held', limit: 1 },
        ],
      });
      assert.deepEqual(third.map((m) => m.content).sort(), ['hello 2', 'hello 6']);
      const rest = await s.claim({
        owner: 'n1',
        limit: 10,
        now: at(5),
        leaseMs: 60_000,
        lanes: [{ destination: 'held', limit: 10 }],
      });
      assert.deepEqual(rest.map((m) => m.content).sort(), ['hello 4', 'hello 8']);
    });

    test('many lanes in one claim: each at most its limit, in their order, until the total', async () => {
      const s = store();
      // 40 destinations with 3 due each: more lanes than one SQLite statement takes (32)
      const ids = Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, '0')}`);
      await s.create(
        ids.flatMap((d, i) => [0, 1, 2].map((k) => msg(i * 3 + k, { destination_id: d }))),
        T0,
      );
      const lanes = ids.map((destination) => ({ destination, limit: 2 }));
      const first = await s.claim({ owner: 'n1', limit: 0, now: at(1), leaseMs: 60_000, lanes, total: 70 });
      const per = (ms: { destination_id: string | null }[]): Map<string, number> => {
        const n = new Map<string, number>();
        for (const m of ms)
          n.set(m.destination_id ?? 'default', (n.get(m.destination_id ?? 'default') ?? 0) + 1);
        return n;
      };
      assert.equal(first.length, 70);
      const got = per(first);
      // the first 35 lanes took their 2, the last 5 none: the total stops the claim in the lanes' order
      assert.deepEqual(
        ids.map((d) => got.get(d) ?? 0),
        ids.map((_, i) => (i < 35 ? 2 : 0)),
      );
      // no total: every lane its limit; what each had left
      const second = await s.claim({ owner: 'n1', limit: 0, now: at(2), leaseMs: 60_000, lanes });
      const left = per(second);
      assert.deepEqual(
        ids.map((d) => left.get(d) ?? 0),
        ids.map((_, i) => (i < 35 ? 1 : 2)),
      );
    });

    test('dueBy claims `default` ahead of now, lanes only what is due now; processing times stay now', async () => {
      const s = store();
      await s.create(
        [
          msg(1, { send_at: at(50) }),
          msg(2, { send_at: at(200) }),
          msg(3, { destination_id: 'd', send_at: at(50) }),
          msg(4, { send_at: at(5) }),
        ],
        T0,
      );
      const ahead = await s.claim({
        owner: 'n1',
        limit: 10,
        now: at(10),
        dueBy: at(100),
        leaseMs: 60_000,
        lanes: [{ destination: 'd', limit: 10 }],
      });
      assert.deepEqual(
        ahead.map((m) => m.content),
        ['hello 4', 'hello 1'],
        'default by the due time given; the lane not ahead of now',
      );
      const stored = await s.get(ahead[1]?.id ?? '');
      assert.equal(stored?.processing_started_at?.getTime(), at(10).getTime());
      assert.equal(stored?.lease_expires_at?.getTime(), at(60_010).getTime());
      // the same in completeAndClaim, with nothing to complete
      const next = await s.completeAndClaim(
        [],
        { owner: 'n1', limit: 10, now: at(20), dueBy: at(250), leaseMs: 60_000 },
        at(20),
      );
      assert.deepEqual(
        next.claimed.map((m) => m.content),
        ['hello 2'],
      );
      const lanes = await s.completeAndClaim(
        [],
        {
          owner: 'n1',
          limit: 10,
          now: at(20),
          dueBy: at(250),
          leaseMs: 60_000,
          lanes: [{ destination: 'd', limit: 10 }],
        },
        at(20),
      );
      assert.deepEqual(lanes.claimed, [], 'a lane does not claim ahead');
      assert.deepEqual(
        (
          await s.claim({
            owner: 'n1',
            limit: 0,
            now: at(50),
            leaseMs: 1000,
            lanes: [{ destination: 'd', limit: 5 }],
          })
        ).map((m) => m.content),
        ['hello 3'],
      );
    });

    test('a lane claims in delivery order and stops at what is due', async () => {
      const s = store();
      await s.create(
        [
          msg(1, { destination_id: 'd', priority: 0 }),
          msg(2, { destination_id: 'd', priority: 5, send_at: at(60) }),
          msg(3, { destination_id: 'd', priority: 5 }),
          msg(4, { destination_id: 'd', priority: 0, send_at: at(60) }),
        ],
        T0,
      );
      const lane = (now: Date, limit: number) =>
        s.claim({ owner: 'n1', limit: 0, now, leaseMs: 60_000, lanes: [{ destination: 'd', limit }] });
      assert.deepEqual(
        (await lane(at(1), 1)).map((m) => m.content),
        ['hello 3'],
      );
      assert.deepEqual(
        (await lane(at(1), 10)).map((m) => m.content),
        ['hello 1'],
      );
      assert.deepEqual(
        (await lane(at(61), 10)).map((m) => m.content),
        ['hello 2', 'hello 4'],
      );
      // the next due time covers the destinations' messages too
      await s.create([msg(9, { destination_id: 'd', send_at: at(120) })], at(62));
      assert.equal((await s.nextDueAt())?.getTime(), at(120).getTime());
      // each lane's own next due time, in one call: a higher priority later, a lower one sooner
      await s.create(
        [
          msg(10, { destination_id: 'e', priority: 9, send_at: at(500) }),
          msg(11, { destination_id: 'e', priority: 1, send_at: at(300) }),
          msg(12, { send_at: at(200) }),
        ],
        at(63),
      );
      const next = await s.nextDueOf(['d', 'e', 'default', 'none']);
      assert.deepEqual([...next.entries()].map(([k, v]) => [k, v.getTime()]).sort(), [
        ['d', at(120).getTime()],
        ['default', at(200).getTime()],
        ['e', at(300).getTime()],
      ]);
    });

    test('a deleted destination’s waiting messages fail in batches, with the reason, no attempt counted', async () => {
      const s = store();
      const made = await s.create(
        [
          msg(1, { destination_id: 'gone' }),
          msg(2, { destination_id: 'gone' }),
          msg(3, { destination_id: 'gone', send_at: at(60_000) }),
          msg(4, { destination_id: 'gone' }),
          msg(5, { destination_id: 'kept' }),
          msg(6),
        ],
        T0,
      );
      const [taken] = await s.claim({
        owner: 'n1',
        limit: 0,
        now: at(1),
        leaseMs: 60_000,
        lanes: [{ destination: 'gone', limit: 1 }],
      });
      assert.ok(taken);
      assert.equal(await s.failUnsent('gone', 'not sent: gone was deleted', at(2), 2), 3);
      const after = await Promise.all(made.map((r) => s.get(r.message.id)));
      for (const m of after) {
        if (m?.destination_id !== 'gone') assert.equal(m?.status, 'unsent');
        else if (m.id === taken.id) assert.equal(m.status, 'processing');
        else {
          assert.equal(m.status, 'failed');
          assert.equal(m.last_error, 'not sent: gone was deleted');
          assert.equal(m.attempts, 0);
        }
      }
      assert.equal(await s.failUnsent('gone', 'again', at(3)), 0);
      assert.equal(await s.failUnsent('default', 'never', at(3)), 0);
    });

    test('an attempt records the destination and the URL it went to', async () => {
      const s = store();
      const [r] = await s.create([msg(1, { destination_id: 'billing' })], T0);
      const id = r?.message.id ?? '';
      await s.claim({
        owner: 'n1',
        limit: 0,
        now: at(1),
        leaseMs: 60_000,
        lanes: [{ destination: 'billing', limit: 1 }],
      });
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
