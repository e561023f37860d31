import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Completion } from '../../src/store/store.js';
import type { CircuitFields } from '../../src/store/destination-health-store.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

const open: CircuitFields = {
  state: 'open',
  opened_at: at(1),
  until: at(30_001),
  probe_owner: null,
  failing_since: at(0),
};

/** Circuits (compare-and-set on their revision) and the health figures of a destination. */
export function destinationHealthContract(factory: StoreFactory): void {
  contractSuite('destination health contract', factory, (store) => {
    test('a circuit changes only from the revision read: two writers of one change make it once', async () => {
      const h = store().health;
      assert.equal(await h.getCircuit('billing'), null);
      assert.deepEqual(await h.listCircuits(), []);
      const [a, b] = await Promise.all([
        h.setCircuit('billing', 0, open, at(1)),
        h.setCircuit('billing', 0, { ...open, probe_owner: 'other' }, at(1)),
      ]);
      assert.equal([a, b].filter((c) => c !== null).length, 1, 'one of two first writes wins');
      const first = a ?? b;
      assert.equal(first?.rev, 1);
      assert.deepEqual(await h.getCircuit('billing'), first);

      const half: CircuitFields = { ...open, state: 'half_open', until: at(40_000), probe_owner: 'n1' };
      const moved = await h.setCircuit('billing', 1, half, at(30_002));
      assert.ok(moved);
      assert.equal(moved.rev, 2);
      assert.equal(moved.state, 'half_open');
      assert.equal(moved.probe_owner, 'n1');
      assert.deepEqual(moved.opened_at, at(1));
      assert.deepEqual(moved.updated_at, at(30_002));
      // a writer that read revision 1 is too late
      assert.equal(await h.setCircuit('billing', 1, { ...half, probe_owner: 'n2' }, at(30_003)), null);
      assert.equal((await h.getCircuit('billing'))?.probe_owner, 'n1');

      const closed: CircuitFields = {
        state: 'closed',
        opened_at: null,
        until: null,
        probe_owner: null,
        failing_since: null,
      };
      assert.equal((await h.setCircuit('billing', 2, closed, at(31_000)))?.state, 'closed');
      await h.setCircuit('crm', 0, open, at(5));
      assert.deepEqual(
        (await h.listCircuits()).map((c) => [c.destination_id, c.state, c.rev]),
        [
          ['billing', 'closed', 3],
          ['crm', 'open', 1],
        ],
      );
      await h.deleteCircuit('crm');
      assert.equal(await h.getCircuit('crm'), null);
    });

    test("a destination's attempts by outcome since a time, its last success and failure, its due backlog", async () => {
      const s = store();
      const created = await s.create(
        [
          ...Array.from({ length: 4 }, (_, i) => ({
            content: `b${i}`,
            recipient_phone_number: '+905550000001',
            destination_id: 'billing',
          })),
          {
            content: 'later',
            recipient_phone_number: '+905550000001',
            destination_id: 'billing',
            send_at: at(60_000),
          },
          { content: 'crm', recipient_phone_number: '+905550000001', destination_id: 'crm' },
          { content: 'default', recipient_phone_number: '+905550000001' },
        ],
        T0,
      );
      assert.equal(await s.health.dueBacklog('billing', at(1)), 4);
      assert.equal(await s.health.dueBacklog('billing', at(60_000)), 5);
      assert.equal(await s.health.dueBacklog('crm', at(1)), 1);
      assert.equal(await s.health.dueBacklog('nobody', at(1)), 0);

      const claimed = await s.claim({
        owner: 'n1',
        limit: 1,
        now: at(1),
        leaseMs: 60_000,
        lanes: [{ destination: 'billing', limit: 3 }],
      });
      assert.equal(claimed.length, 4);
      assert.equal(await s.health.inFlight('billing'), 3);
      assert.equal(await s.health.inFlight('crm'), 0);
      const outcomes: Array<['sent' | 'retry' | 'failed', number]> = [
        ['retry', 10],
        ['sent', 20],
        ['failed', 30],
      ];
      const billing = claimed.filter((m) => m.destination_id === 'billing');
      const completions: Completion[] = billing.map((m, i) => {
        const [outcome, t] = outcomes[i] ?? ['sent', 0];
        return {
          id: m.id,
          owner: 'n1',
          outcome:
            outcome === 'sent'
              ? { kind: 'sent', webhookResponseMessageId: null, sentAt: at(t) }
              : outcome === 'retry'
                ? { kind: 'retry', error: 'HTTP 500', dueAt: at(90_000) }
                : { kind: 'failed', error: 'HTTP 400' },
          attempt: {
            message_id: m.id,
            attempt: 1,
            started_at: at(t),
            latency_ms: 1,
            status_code: outcome === 'sent' ? 200 : outcome === 'retry' ? 500 : 400,
            error: outcome === 'sent' ? null : 'HTTP',
            outcome,
            destination_id: 'billing',
            url: 'https://billing.example/',
          },
        };
      });
      const def = claimed.find((m) => m.destination_id === null);
      assert.ok(def);
      completions.push({
        id: def.id,
        owner: 'n1',
        outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: at(40) },
        attempt: {
          message_id: def.id,
          attempt: 1,
          started_at: at(40),
          latency_ms: 1,
          status_code: 200,
          error: null,
          outcome: 'sent',
          destination_id: null,
          url: null,
        },
      });
      assert.equal((await s.complete(completions, at(50))).length, 4);

      assert.deepEqual(await s.health.attemptStats('billing', T0), {
        successes: 1,
        failures: 2,
        last_success_at: at(20),
        last_failure_at: at(30),
      });
      assert.deepEqual(await s.health.attemptStats('billing', at(15)), {
        successes: 1,
        failures: 1,
        last_success_at: at(20),
        last_failure_at: at(30),
      });
      assert.deepEqual(await s.health.attemptStats('crm', T0), {
        successes: 0,
        failures: 0,
        last_success_at: null,
        last_failure_at: null,
      });
      // `default`'s attempt is kept as it was (no destination, no URL)
      const defAttempts = await s.attempts(def.id);
      assert.equal(defAttempts[0]?.destination_id ?? null, null);
      assert.equal(defAttempts[0]?.url ?? null, null);
      assert.equal((await s.attempts(billing[0]?.id ?? ''))[0]?.url, 'https://billing.example/');
      // left: the one not claimed and the later one; the retried one is due again at 90 s; the sent
      // and failed ones left the backlog
      assert.equal(await s.health.dueBacklog('billing', at(61_000)), 2);
      assert.equal(await s.health.dueBacklog('billing', at(90_000)), 3);
      assert.equal(created.length, 7);
    });
  });
}
