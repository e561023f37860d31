import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Message, NewMessage } from '../../src/domain/message.js';
import { seedMessages } from '../../src/seed/seed.js';
import { LEASE_LOST_ERROR, type Completion, type Cursor, type MessageStore } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/services.js';
import { StoreError, type StoreErrorCode } from '../../src/store/store-errors.js';

/** Asserts that `fn` rejects with a StoreError of this code (the API maps the code, never the driver's). */
async function rejectsWith(fn: () => Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, `a StoreError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

function msg(i: number, extra: Partial<NewMessage> = {}): NewMessage {
  return { content: `hello ${i}`, recipient_phone_number: `+9055500${String(i).padStart(5, '0')}`, ...extra };
}

function sent(id: string, owner: string, when: Date, resp: string | null = 'resp-' + id): Completion {
  return {
    id,
    owner,
    outcome: { kind: 'sent', webhookResponseMessageId: resp, sentAt: when },
    attempt: {
      message_id: id,
      attempt: 1,
      started_at: when,
      latency_ms: 3.5,
      status_code: 202,
      error: null,
      outcome: 'sent',
    },
  };
}

/**
 * The storage contract: every adapter must pass this same suite. Each backend
 * file calls it with its own factory; each test gets a fresh database.
 */
export function storeContract(factory: StoreFactory): void {
  describe(
    `store contract: ${factory.name}`,
    { skip: !factory.available && `${factory.name} not configured` },
    () => {
      let store: MessageStore;
      let drop: () => Promise<void>;

      beforeEach(async () => {
        ({ store, drop } = await factory.create());
      });
      afterEach(async () => {
        await drop();
      });

      test('errors leave the seam as StoreError with a stable code: invalid, conflict', async () => {
        // text no store keeps (src/domain/text.ts): refused alike, and nothing of the call is written
        await rejectsWith(() => store.create([msg(1), msg(2, { content: 'a\u0000b' })], T0), 'invalid');
        await rejectsWith(() => store.create([msg(3, { idempotency_key: 'k\ud800' })], T0), 'invalid');
        assert.equal((await store.countByStatus()).unsent, 0);
        // a key the store holds already
        const key = { id: 'abcdef012345', name: 'k', scopes: [], hash: 'h'.repeat(64), expires_at: null };
        await store.keys.createKey(key, T0);
        await rejectsWith(() => store.keys.createKey(key, T0), 'conflict');
        assert.equal((await store.keys.listKeys()).length, 1);
      });

      test('a store whose database is not there throws StoreError unavailable', async () => {
        let unreachable: MessageStore | null = null;
        await rejectsWith(async () => {
          unreachable = await factory.unreachable();
          await unreachable.init();
        }, 'unavailable');
        await (unreachable as MessageStore | null)?.close().catch(() => undefined);
      });

      test('create and get round-trip every field', async () => {
        const [r] = await store.create([msg(1, { send_at: at(5000), priority: 3 })], T0);
        assert.ok(r?.created);
        const got = await store.get(r.message.id);
        assert.ok(got);
        assert.match(got.id, /^[0-9a-f]{24}$/);
        assert.equal(got.content, 'hello 1');
        assert.equal(got.recipient_phone_number, '+905550000001');
        assert.equal(got.status, 'unsent');
        assert.equal(got.created_at.toISOString(), T0.toISOString());
        assert.equal(got.send_at.toISOString(), at(5000).toISOString());
        assert.equal(got.due_at.toISOString(), at(5000).toISOString());
        assert.equal(got.priority, 3);
        assert.equal(got.sent_at, null);
        assert.equal(got.webhook_response_message_id, null);
        assert.equal(got.webhook_id, `msg_${got.id}`);
        assert.equal(got.attempts, 0);
        assert.equal(await store.get('0123456789abcdef01234567'), null);
      });

      test('an idempotency key returns the existing message instead of a second one', async () => {
        const [a] = await store.create([msg(1, { idempotency_key: 'k1', request_hash: 'h1' })], T0);
        const [b] = await store.create([msg(1, { idempotency_key: 'k1', request_hash: 'h1' })], at(1));
        assert.ok(a?.created);
        assert.equal(b?.created, false);
        assert.equal(b?.message.id, a?.message.id);
        assert.equal(b?.message.request_hash, 'h1');
        assert.equal((await store.getByIdempotencyKey('k1'))?.id, a?.message.id);
        assert.equal(await store.getByIdempotencyKey('nope'), null);
        const batch = await store.create(
          [msg(2, { idempotency_key: 'k1' }), msg(3, { idempotency_key: 'k3' }), msg(4)],
          at(2),
        );
        assert.deepEqual(
          batch.map((r) => r.created),
          [false, true, true],
        );
        const counts = await store.countByStatus();
        assert.equal(counts.unsent, 3);
      });

      test('concurrent identical idempotent requests create one message', async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, () => store.create([msg(1, { idempotency_key: 'same' })], T0)),
        );
        const ids = new Set(results.map((r) => r[0]?.message.id));
        assert.equal(ids.size, 1);
        assert.equal(results.filter((r) => r[0]?.created).length, 1);
        assert.equal((await store.countByStatus()).unsent, 1);
      });

      test('claim takes due messages only, priority first, then due time, then creation', async () => {
        await store.create([msg(1, { send_at: at(300) })], at(0));
        await store.create([msg(2, { send_at: at(100) })], at(1));
        await store.create([msg(3, { send_at: at(100), priority: 5 })], at(2));
        await store.create([msg(4, { send_at: at(100) })], at(3));
        await store.create([msg(5, { send_at: at(10_000) })], at(4));
        const first = await store.claim({ owner: 'w1', limit: 2, now: at(1000), leaseMs: 60_000 });
        assert.deepEqual(
          first.map((m) => m.content),
          ['hello 3', 'hello 2'],
        );
        for (const m of first) {
          assert.equal(m.lease_expires_at?.toISOString(), at(61_000).toISOString());
          const stored = await store.get(m.id);
          assert.equal(stored?.status, 'processing');
          assert.equal(stored?.lease_owner, 'w1');
          assert.equal(stored?.lease_expires_at?.toISOString(), at(61_000).toISOString());
          assert.equal(stored?.processing_started_at?.toISOString(), at(1000).toISOString());
          assert.equal(stored?.webhook_id, m.webhook_id);
          assert.equal(stored?.recipient_phone_number, m.recipient_phone_number);
          assert.equal(stored?.attempts, m.attempts);
        }
        const rest = await store.claim({ owner: 'w1', limit: 10, now: at(1000), leaseMs: 60_000 });
        assert.deepEqual(
          rest.map((m) => m.content),
          ['hello 4', 'hello 1'],
        );
        assert.equal(
          (await store.claim({ owner: 'w1', limit: 10, now: at(1000), leaseMs: 60_000 })).length,
          0,
        );
        assert.equal((await store.nextDueAt())?.toISOString(), at(10_000).toISOString());
      });

      test('next due time is the earliest unsent due_at across all priorities', async () => {
        assert.equal(await store.nextDueAt(), null);
        await store.create([msg(1, { send_at: at(9000), priority: 9 })], T0);
        await store.create([msg(2, { send_at: at(7000), priority: -3 })], T0);
        await store.create([msg(3, { send_at: at(8000), priority: 0 })], T0);
        await store.create([msg(4, { send_at: at(5000), priority: 0 })], T0);
        assert.equal((await store.nextDueAt())?.toISOString(), at(5000).toISOString());
        const [first] = await store.claim({ owner: 'w', limit: 1, now: at(5000), leaseMs: 1000 });
        assert.equal(first?.content, 'hello 4');
        assert.equal(
          (await store.nextDueAt())?.toISOString(),
          at(7000).toISOString(),
          'processing ones do not count',
        );
      });

      test('8 concurrent claimers over 2,000 messages never share a message', async () => {
        const N = 2000;
        for (let i = 0; i < N; i += 500) {
          await store.create(
            Array.from({ length: 500 }, (_, j) => msg(i + j)),
            T0,
          );
        }
        const owners = Array.from({ length: 8 }, (_, i) => `claimer-${i}`);
        const byOwner = new Map<string, string[]>(owners.map((o) => [o, []]));
        await Promise.all(
          owners.map(async (owner) => {
            let empty = 0;
            while (empty < 3) {
              const got = await store.claim({ owner, limit: 25, now: at(1), leaseMs: 600_000 });
              if (got.length === 0) empty++;
              else empty = 0;
              for (const m of got) byOwner.get(owner)?.push(m.id);
            }
          }),
        );
        const all = [...byOwner.values()].flat();
        assert.equal(new Set(all).size, all.length, 'a message was claimed twice');
        assert.equal(all.length, N);
        const counts = await store.countByStatus();
        assert.equal(counts.processing, N);
        assert.equal(counts.unsent, 0);
        // completions by the owners all apply, and only once
        const applied = await Promise.all(
          owners.map((o) =>
            store.complete(
              (byOwner.get(o) ?? []).map((id) => sent(id, o, at(2))),
              at(2),
            ),
          ),
        );
        assert.equal(applied.flat().length, N);
        assert.equal((await store.countByStatus()).sent, N);
      });

      test('completion applies only for the lease holder and records the attempt', async () => {
        const [r] = await store.create([msg(1)], T0);
        const id = r?.message.id ?? '';
        await store.claim({ owner: 'w1', limit: 1, now: at(1), leaseMs: 60_000 });
        assert.deepEqual(await store.complete([sent(id, 'intruder', at(2))], at(2)), []);
        assert.equal((await store.get(id))?.status, 'processing');
        assert.deepEqual(await store.complete([sent(id, 'w1', at(3))], at(3)), [id]);
        const done = await store.get(id);
        assert.equal(done?.status, 'sent');
        assert.equal(done?.sent_at?.toISOString(), at(3).toISOString());
        assert.equal(done?.webhook_response_message_id, 'resp-' + id);
        assert.equal(done?.attempts, 1);
        assert.equal(done?.lease_owner, null);
        // a second completion of a finished message does nothing
        assert.deepEqual(await store.complete([sent(id, 'w1', at(4))], at(4)), []);
        const attempts = await store.attempts(id);
        assert.equal(attempts.length, 3, 'every attempt that happened is recorded');
        assert.equal(attempts[0]?.status_code, 202);
        assert.equal(attempts[0]?.latency_ms, 3.5);
        assert.equal(attempts[0]?.started_at.toISOString(), at(2).toISOString());
      });

      test('concurrent claims by one owner (overlapping rounds of one pool) never hand out a message twice', async () => {
        await store.create(
          Array.from({ length: 30 }, (_, i) => msg(i)),
          T0,
        );
        const got = await Promise.all(
          Array.from({ length: 4 }, () =>
            store.claim({ owner: 'w1', limit: 10, now: at(1), leaseMs: 60_000 }),
          ),
        );
        const ids = got.flat().map((m) => m.id);
        assert.equal(new Set(ids).size, ids.length, 'a message was claimed twice');
        assert.equal(ids.length, 30);
        assert.equal((await store.countByStatus()).processing, 30);
      });

      test('completeAndClaim stores outcomes and claims more in one call; nothing is handed out twice', async () => {
        const created = await store.create([msg(1), msg(2), msg(3), msg(4)], T0);
        const first = await store.claim({ owner: 'w1', limit: 2, now: at(1), leaseMs: 60_000 });
        assert.equal(first.length, 2);
        const done = first.map((m) => sent(m.id, 'w1', at(2)));
        // one outcome from a lease it does not hold is refused, the others applied
        const stranger = created.find((c) => !first.some((m) => m.id === c.message.id))?.message.id ?? '';
        const res = await store.completeAndClaim(
          [...done, sent(stranger, 'w1', at(2))],
          { owner: 'w1', limit: 10, now: at(2), leaseMs: 60_000 },
          at(2),
        );
        assert.deepEqual([...res.applied].sort(), first.map((m) => m.id).sort());
        assert.equal(res.claimed.length, 2, 'the two still unsent');
        for (const m of res.claimed) {
          const stored = await store.get(m.id);
          assert.ok(stored?.status === 'processing' && stored.lease_owner === 'w1');
        }
        assert.ok(
          !res.claimed.some((m) => first.some((f) => f.id === m.id)),
          'a completed message is not re-claimed',
        );
        const counts = await store.countByStatus();
        assert.equal(counts.sent, 2);
        assert.equal(counts.processing, 2);
        // nothing to complete and nothing due: a no-op
        assert.deepEqual(
          await store.completeAndClaim([], { owner: 'w1', limit: 5, now: at(3), leaseMs: 60_000 }, at(3)),
          { applied: [], claimed: [] },
        );
      });

      test('the trace context a message was created with comes back with it and with every claim', async () => {
        const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
        const [traced, plain] = await store.create([msg(1, { trace_context: tp }), msg(2)], T0);
        assert.equal(traced?.message.trace_context, tp);
        assert.equal(plain?.message.trace_context, null);
        assert.equal((await store.get(traced?.message.id ?? ''))?.trace_context, tp);
        const first = await store.claim({ owner: 'w1', limit: 1, now: at(1), leaseMs: 60_000 });
        assert.equal(first[0]?.trace_context, tp, 'claim');
        const retry: Completion = {
          id: traced?.message.id ?? '',
          owner: 'w1',
          outcome: { kind: 'retry', error: 'HTTP 503', dueAt: at(2) },
          attempt: null,
        };
        // claimed again by the combined call, after a retry, and the untraced one alongside
        const res = await store.completeAndClaim(
          [retry],
          { owner: 'w1', limit: 5, now: at(3), leaseMs: 60_000 },
          at(3),
        );
        assert.deepEqual(res.applied, [traced?.message.id]);
        const byId = new Map(res.claimed.map((m) => [m.id, m.trace_context]));
        assert.equal(byId.get(plain?.message.id ?? ''), null);
        // the SQL stores' combined call reads its snapshot: the retried one may come in the next round
        const again = byId.has(traced?.message.id ?? '')
          ? res.claimed
          : await store.claim({ owner: 'w1', limit: 5, now: at(4), leaseMs: 60_000 });
        assert.equal(
          again.find((m) => m.id === traced?.message.id)?.trace_context,
          tp,
          'claim after a retry',
        );
      });

      test('a retry puts the message back with a later due time; failure and invalid content are final', async () => {
        const created = await store.create([msg(1), msg(2), msg(3)], T0);
        const [a, b, c] = created.map((r) => r.message.id);
        await store.claim({ owner: 'w', limit: 3, now: at(1), leaseMs: 60_000 });
        const applied = await store.complete(
          [
            {
              id: a ?? '',
              owner: 'w',
              outcome: { kind: 'retry', error: 'HTTP 503', dueAt: at(5000) },
              attempt: {
                message_id: a ?? '',
                attempt: 1,
                started_at: at(1),
                latency_ms: 1,
                status_code: 503,
                error: 'HTTP 503',
                outcome: 'retry',
              },
            },
            {
              id: b ?? '',
              owner: 'w',
              outcome: { kind: 'failed', error: 'HTTP 400' },
              attempt: {
                message_id: b ?? '',
                attempt: 1,
                started_at: at(1),
                latency_ms: 1,
                status_code: 400,
                error: 'HTTP 400',
                outcome: 'failed',
              },
            },
            {
              id: c ?? '',
              owner: 'w',
              outcome: { kind: 'invalid_content', reason: 'content is empty' },
              attempt: null,
            },
          ],
          at(2),
        );
        assert.equal(applied.length, 3);
        const ra = await store.get(a ?? '');
        assert.equal(ra?.status, 'unsent');
        assert.equal(ra?.attempts, 1);
        assert.equal(ra?.last_error, 'HTTP 503');
        assert.equal(ra?.due_at.toISOString(), at(5000).toISOString());
        assert.equal(ra?.send_at.toISOString(), T0.toISOString());
        assert.equal((await store.get(b ?? ''))?.status, 'failed');
        const rc = await store.get(c ?? '');
        assert.equal(rc?.status, 'invalid_content');
        assert.equal(rc?.last_error, 'content is empty');
        assert.equal(rc?.attempts, 0);
        assert.equal((await store.claim({ owner: 'w', limit: 5, now: at(4999), leaseMs: 1000 })).length, 0);
        const again = await store.claim({ owner: 'w', limit: 5, now: at(5000), leaseMs: 1000 });
        assert.deepEqual(
          again.map((m) => m.id),
          [a],
        );
      });

      test('an expired lease is recovered with the same webhook id; the old holder can no longer complete', async () => {
        const [r] = await store.create([msg(1)], T0);
        const id = r?.message.id ?? '';
        const [claimed] = await store.claim({ owner: 'dead', limit: 1, now: at(0), leaseMs: 1000 });
        assert.equal(await store.recoverExpired(at(999)), 0);
        assert.equal(await store.recoverExpired(at(1001)), 1);
        const back = await store.get(id);
        assert.equal(back?.status, 'unsent');
        assert.equal(back?.lease_owner, null);
        const [again] = await store.claim({ owner: 'alive', limit: 1, now: at(1002), leaseMs: 1000 });
        assert.equal(again?.webhook_id, claimed?.webhook_id);
        assert.deepEqual(await store.complete([sent(id, 'dead', at(1003))], at(1003)), []);
        assert.deepEqual(await store.complete([sent(id, 'alive', at(1004))], at(1004)), [id]);
      });

      test('at most once: an expired lease becomes unknown; an operator retries or gives up', async () => {
        const created = await store.create([msg(1), msg(2), msg(3)], T0);
        const [a, b, c] = created.map((r) => r.message.id);
        await store.claim({ owner: 'dead', limit: 3, now: at(0), leaseMs: 1000 });
        assert.equal(await store.recoverExpired(at(1001), 'unknown'), 3);
        const held = await store.get(a ?? '');
        assert.equal(held?.status, 'unknown');
        assert.equal(held?.last_error, LEASE_LOST_ERROR);
        assert.equal((await store.countByStatus()).unknown, 3);
        assert.deepEqual(
          (await store.list({ order: 'created', status: 'unknown', limit: 10 })).items
            .map((m) => m.id)
            .sort(),
          [a, b, c].sort(),
        );
        // nothing unknown is claimed by itself
        assert.deepEqual(await store.claim({ owner: 'w', limit: 10, now: at(2000), leaseMs: 1000 }), []);
        const retried = await store.resolve(a ?? '', 'retry', at(3000));
        assert.equal(retried.result, 'done');
        assert.equal(retried.result === 'done' && retried.message.status, 'unsent');
        const gaveUp = await store.resolve(b ?? '', 'give_up', at(3000));
        assert.equal(gaveUp.result === 'done' && gaveUp.message.status, 'failed');
        assert.match(
          gaveUp.result === 'done' ? (gaveUp.message.last_error ?? '') : '',
          /^given up by an operator: outcome unknown/,
        );
        assert.deepEqual(await store.resolve(b ?? '', 'give_up', at(3001)), {
          result: 'conflict',
          status: 'failed',
        });
        // retry also takes a failed message back
        assert.equal((await store.resolve(b ?? '', 'retry', at(3002))).result, 'done');
        assert.deepEqual(await store.resolve(a ?? '', 'give_up', at(3003)), {
          result: 'conflict',
          status: 'unsent',
        });
        assert.deepEqual(await store.resolve('0123456789abcdef01234567', 'retry', at(3003)), {
          result: 'not_found',
        });
        const claimed = await store.claim({ owner: 'w', limit: 10, now: at(4000), leaseMs: 1000 });
        assert.deepEqual(claimed.map((m) => m.id).sort(), [a, b].sort(), 'the retried ones are due again');
        assert.equal((await store.get(c ?? ''))?.status, 'unknown');
      });

      test('releaseOwned gives back the owner’s leases except the ones it keeps', async () => {
        await store.create([msg(1), msg(2), msg(3), msg(4)], T0);
        const mine = await store.claim({ owner: 'w', limit: 3, now: at(1), leaseMs: 60_000 });
        const theirs = await store.claim({ owner: 'other', limit: 1, now: at(1), leaseMs: 60_000 });
        const keep = mine[0]?.id ?? '';
        assert.equal(await store.releaseOwned('w', [keep], at(2)), 2);
        assert.equal((await store.get(keep))?.status, 'processing');
        assert.equal((await store.get(theirs[0]?.id ?? ''))?.lease_owner, 'other');
        assert.equal((await store.countByStatus()).unsent, 2);
        assert.equal(await store.releaseOwned('w', [], at(3)), 1);
      });

      test('release gives back only the owner’s leases', async () => {
        await store.create([msg(1), msg(2), msg(3)], T0);
        const mine = await store.claim({ owner: 'me', limit: 2, now: at(1), leaseMs: 60_000 });
        const theirs = await store.claim({ owner: 'them', limit: 1, now: at(1), leaseMs: 60_000 });
        const ids = [...mine, ...theirs].map((m) => m.id);
        assert.equal(await store.release('me', ids, at(2)), 2);
        const counts = await store.countByStatus();
        assert.equal(counts.unsent, 2);
        assert.equal(counts.processing, 1);
      });

      test('cancel: unsent only; 404 for unknown; races with claim give exactly one winner', async () => {
        const [r] = await store.create([msg(1)], T0);
        const id = r?.message.id ?? '';
        const c1 = await store.cancel(id, at(1));
        assert.equal(c1.result, 'cancelled');
        assert.equal(c1.result === 'cancelled' && c1.message.status, 'cancelled');
        assert.deepEqual(await store.cancel(id, at(2)), { result: 'conflict', status: 'cancelled' });
        assert.deepEqual(await store.cancel('0123456789abcdef01234567', at(2)), { result: 'not_found' });
        assert.equal((await store.claim({ owner: 'w', limit: 1, now: at(3), leaseMs: 1000 })).length, 0);

        const N = 200;
        const created = await store.create(
          Array.from({ length: N }, (_, i) => msg(i)),
          T0,
        );
        const ids = created.map((x) => x.message.id);
        const claimed = new Set<string>();
        const claimers = Array.from({ length: 4 }, async (_, k) => {
          for (let round = 0; round < 30; round++) {
            for (const m of await store.claim({ owner: `c${k}`, limit: 10, now: at(5), leaseMs: 60_000 }))
              claimed.add(m.id);
          }
        });
        const cancels = (async () => {
          const out = new Map<string, string>();
          for (const x of ids) out.set(x, (await store.cancel(x, at(5))).result);
          return out;
        })();
        const [, results] = await Promise.all([Promise.all(claimers), cancels]);
        for (const x of ids) {
          const res = results.get(x);
          const final = (await store.get(x))?.status;
          if (res === 'cancelled') {
            assert.equal(final, 'cancelled');
            assert.ok(!claimed.has(x), `message ${x} was both cancelled and claimed`);
          } else {
            assert.equal(res, 'conflict');
            assert.equal(final, 'processing');
            assert.ok(claimed.has(x));
          }
        }
      });

      test('unsent messages list in delivery order, paged by a cursor through ties of every key', async () => {
        // 3 priorities × 3 due times × 2 created times × 2 messages: every key ties somewhere
        const inputs: { m: NewMessage; created: Date }[] = [];
        for (const priority of [0, 5, -1])
          for (const due of [3000, 1000, 2000])
            for (const c of [20, 10])
              for (let k = 0; k < 2; k++)
                inputs.push({
                  m: msg(inputs.length, { priority, send_at: at(due) }),
                  created: at(c),
                });
        for (const { m, created } of inputs) await store.create([m], created);
        // one that is not unsent is left out
        const [gone] = await store.create([msg(99, { priority: 9 })], at(0));
        await store.cancel(gone?.message.id ?? '', at(1));
        const seen: Message[] = [];
        let after: Cursor | undefined;
        for (let page = 0; page < 20; page++) {
          const p = await store.list({ order: 'due', status: 'unsent', limit: 5, after });
          seen.push(...p.items);
          if (!p.next) break;
          after = p.next;
        }
        assert.equal(seen.length, inputs.length, 'every unsent message once');
        assert.equal(new Set(seen.map((m) => m.id)).size, inputs.length);
        const key = (m: Message) => [-m.priority, m.due_at.getTime(), m.created_at.getTime(), m.id];
        const sorted = [...seen].sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? 0) < (y[i] ?? 0) ? -1 : 1;
          return 0;
        });
        assert.deepEqual(
          seen.map((m) => m.id),
          sorted.map((m) => m.id),
          'priority desc, due_at, created_at, id',
        );
        assert.equal(seen[0]?.priority, 5);
        assert.ok(seen.every((m) => m.status === 'unsent'));
      });

      test('list pages newest first with a cursor, by creation or by sent time', async () => {
        const created = [];
        for (let i = 0; i < 7; i++) created.push(...(await store.create([msg(i)], at(i * 1000))));
        const seen: string[] = [];
        let after;
        for (let page = 0; page < 5; page++) {
          const p = await store.list({ order: 'created', limit: 3, after });
          seen.push(...p.items.map((m) => m.content));
          if (!p.next) break;
          after = p.next;
        }
        assert.deepEqual(seen, ['hello 6', 'hello 5', 'hello 4', 'hello 3', 'hello 2', 'hello 1', 'hello 0']);

        const claimed = await store.claim({ owner: 'w', limit: 3, now: at(10_000), leaseMs: 60_000 });
        // sent in reverse order of claiming so sent_at order differs from created order
        await store.complete(
          claimed.map((m, i) => sent(m.id, 'w', at(20_000 - i * 1000))),
          at(20_000),
        );
        const s1 = await store.list({ order: 'sent', limit: 2 });
        assert.deepEqual(
          s1.items.map((m) => m.sent_at?.toISOString()),
          [at(20_000).toISOString(), at(19_000).toISOString()],
        );
        assert.ok(s1.next);
        const s2 = await store.list({ order: 'sent', limit: 2, after: s1.next });
        assert.deepEqual(
          s2.items.map((m) => m.sent_at?.toISOString()),
          [at(18_000).toISOString()],
        );
        assert.equal(s2.next, null);
        const unsent = await store.list({ order: 'due', status: 'unsent', limit: 100 });
        assert.equal(unsent.items.length, 4);
        assert.ok(unsent.items.every((m) => m.status === 'unsent'));
      });

      test('seeding twice does not duplicate; bad rows are reported and good rows still go in', async () => {
        const rows = [
          {
            webhook_response_message_id: '',
            content: 'first',
            recipient_phone_number: '+905551111111',
            status: 'unsent',
            created_at: '2025-03-01T10:00:00Z',
            sent_at: '0001-01-01T00:00:00Z',
          },
          {
            webhook_response_message_id: 'abc',
            content: 'second',
            recipient_phone_number: '+905552222222',
            status: 'sent',
            created_at: '2025-03-01T09:00:00Z',
            sent_at: '2025-03-01T09:00:05Z',
          },
          { content: 42, recipient_phone_number: '+90' },
          { content: 'bad date', recipient_phone_number: '+90', created_at: 'yesterday' },
          // text no store keeps unchanged, and phone numbers no one dials
          { content: 'x\ud800y', recipient_phone_number: '+90' },
          { content: 'ok', recipient_phone_number: '+90\u0000' },
          { content: 'ok', recipient_phone_number: '+90\udfff' },
          // U+0000: PostgreSQL refuses it, and the whole seed used to abort with it
          { content: 'a\u0000b', recipient_phone_number: '+90' },
          {
            content: 'nul id',
            recipient_phone_number: '+90',
            status: 'sent',
            sent_at: '2025-03-01T09:00:05Z',
            webhook_response_message_id: 'x\u0000',
          },
        ];
        const first = await seedMessages(store, rows, T0);
        assert.equal(first.inserted, 2);
        assert.deepEqual(
          first.errors.map((e) => e.index),
          [2, 3, 4, 5, 6, 7, 8],
        );
        assert.match(first.errors[0]?.reason ?? '', /content/);
        assert.match(first.errors[2]?.reason ?? '', /content is not well-formed Unicode/);
        assert.match(first.errors[3]?.reason ?? '', /control character/);
        assert.match(first.errors[4]?.reason ?? '', /recipient_phone_number is not well-formed/);
        assert.match(first.errors[5]?.reason ?? '', /content holds U\+0000/);
        assert.match(first.errors[6]?.reason ?? '', /webhook_response_message_id holds U\+0000/);
        const second = await seedMessages(store, rows, T0);
        assert.equal(second.inserted, 0);
        assert.equal(second.skipped, 2);
        const counts = await store.countByStatus();
        assert.equal(counts.unsent, 1);
        assert.equal(counts.sent, 1);
        const s = await store.list({ order: 'sent', limit: 10 });
        assert.equal(s.items[0]?.webhook_response_message_id, 'abc');
        assert.equal(s.items[0]?.sent_at?.toISOString(), '2025-03-01T09:00:05.000Z');
      });
    },
  );
}
