/**
 * The scheduler and the schedules' rules on every store, with the time given (no timers): two
 * schedulers racing, the missed policies after a stopped cluster, pause/resume/trigger/limit/end,
 * and a daylight-saving change driven pass by pass.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageStore } from '../src/store/store.js';
import { silentLogger } from '../src/logging/logger.js';
import { Scheduler } from '../src/schedules/scheduler.js';
import { ScheduleService } from '../src/schedules/schedule-service.js';
import { occurrenceKey } from '../src/domain/schedule.js';
import { plainSpec } from '../src/domain/destination.js';
import { contractSuite } from './contract/suite.js';
import { mongoFactory, postgresFactory, sqliteFactory } from './helpers/services.js';

const T = new Date('2027-06-01T12:00:00.000Z');
const at = (s: number): Date => new Date(T.getTime() + s * 1000);
const message = { content: 'tick', recipient_phone_number: '+15550100' };

function parts(store: MessageStore, extra: { catchUpMax?: number } = {}) {
  const exists = async (id: string): Promise<boolean> =>
    (await store.destinations.getDestination(id)) !== null;
  const service = new ScheduleService({ store, exists });
  const scheduler = (): Scheduler =>
    new Scheduler({
      store,
      exists,
      intervalMs: 1000,
      lookaheadMs: 5000,
      missedAfterMs: 60_000,
      catchUpMax: extra.catchUpMax ?? 100,
      logger: silentLogger(),
      onCreated: () => undefined,
    });
  return { service, scheduler };
}

/** The idempotency keys of every message, sorted. */
async function keys(store: MessageStore): Promise<string[]> {
  const out: string[] = [];
  let after;
  for (;;) {
    const page = await store.list({ order: 'created', limit: 1000, ...(after ? { after } : {}) });
    for (const m of page.items) out.push(m.idempotency_key ?? '');
    if (!page.next) break;
    after = page.next;
  }
  return out.sort();
}

for (const factory of [sqliteFactory(), postgresFactory(), mongoFactory()]) {
  contractSuite('schedules', factory, (store) => {
    test('two schedulers racing make exactly one message per occurrence, and agree on the run count', async () => {
      const { service, scheduler } = parts(store());
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        ids.push(
          (await service.create({ id: `s${i}`, every: '1s', start_at: T.toISOString(), message }, at(-10)))
            .id,
        );
      }
      const a = scheduler();
      const b = scheduler();
      for (let s = -5; s <= 10; s++) {
        await Promise.all([a.pass(at(s)), b.pass(at(s + 0.3))]);
      }
      // occurrences 0..15 s (the last pass looks 5 s ahead of 10.3 s)
      const expected = ids
        .flatMap((id) => Array.from({ length: 16 }, (_, k) => occurrenceKey(id, at(k))))
        .sort();
      assert.deepEqual(await keys(store()), expected);
      for (const id of ids) {
        const s = await service.get(id);
        assert.equal(s.run_count, 16, id);
        assert.deepEqual(s.last_run_at, at(15));
        assert.deepEqual(s.next_run_at, at(16));
      }
    });

    test('missed occurrences after a stopped cluster: skip, once, all (up to the cap)', async () => {
      const { service, scheduler } = parts(store(), { catchUpMax: 3 });
      for (const missed of ['skip', 'once', 'all'] as const) {
        await service.create(
          { id: missed, every: '1m', start_at: T.toISOString(), missed, message },
          at(-10),
        );
      }
      const s = scheduler();
      await s.pass(at(-1)); // makes 12:00:00
      // the cluster is down for 30 minutes: 12:01 .. 12:28 are missed (older than a minute)
      const r = await s.pass(at(30 * 60));
      assert.equal(r.skipped, 28 + 27 + 25);
      const all = await keys(store());
      const of = (id: string) => all.filter((k) => k.startsWith(`schedule:${id}:`));
      const recent = (id: string) => [occurrenceKey(id, at(29 * 60)), occurrenceKey(id, at(30 * 60))];
      assert.deepEqual(of('skip'), [occurrenceKey('skip', at(0)), ...recent('skip')].sort());
      // once: one message for them all, made now, keyed by the first missed occurrence
      assert.deepEqual(
        of('once'),
        [occurrenceKey('once', at(0)), occurrenceKey('once', at(60)), ...recent('once')].sort(),
      );
      const catchUp = await store().getByIdempotencyKey(occurrenceKey('once', at(60)));
      assert.deepEqual(catchUp?.send_at, at(30 * 60));
      // all: each, oldest first, up to schedules.catchUpMax (3)
      assert.deepEqual(
        of('all'),
        [0, 60, 120, 180]
          .map((x) => occurrenceKey('all', at(x)))
          .concat(recent('all'))
          .sort(),
      );
      assert.equal((await service.get('all')).run_count, 6);
      assert.equal((await service.get('skip')).run_count, 3);
    });

    test('pause makes no occurrence, resume goes on from now without catching up; trigger runs once now', async () => {
      const { service, scheduler } = parts(store());
      await service.create({ id: 'p', every: '10s', start_at: T.toISOString(), message }, at(-10));
      const s = scheduler();
      await s.pass(at(-1)); // 12:00:00
      assert.equal((await service.pause('p', at(1))).status, 'paused');
      await s.pass(at(40));
      assert.deepEqual(await keys(store()), [occurrenceKey('p', at(0))]);
      const resumed = await service.resume('p', at(41));
      assert.equal(resumed.status, 'active');
      assert.deepEqual(resumed.next_run_at, at(50));
      await s.pass(at(46)); // 50 is within the 5 s lookahead
      assert.deepEqual(await keys(store()), [occurrenceKey('p', at(0)), occurrenceKey('p', at(50))].sort());
      // trigger: one message now, the schedule's state unchanged; the same key makes it once
      const before = await service.get('p');
      const t1 = await service.trigger('p', at(45), 'retry-me');
      const t2 = await service.trigger('p', at(46), 'retry-me');
      assert.equal(t1.created, true);
      assert.equal(t2.created, false);
      assert.equal(t1.messages[0]?.id, t2.messages[0]?.id);
      assert.deepEqual(t1.messages[0]?.send_at, at(45));
      const after = await service.get('p');
      assert.equal(after.run_count, before.run_count);
      assert.deepEqual(after.next_run_at, before.next_run_at);
    });

    test('limit and end_at end a schedule; resume of an ended one is refused', async () => {
      const { service, scheduler } = parts(store());
      await service.create({ id: 'l', every: '1s', start_at: T.toISOString(), limit: 3, message }, at(-10));
      await service.create(
        { id: 'e', every: '2s', start_at: T.toISOString(), end_at: at(3).toISOString(), message },
        at(-10),
      );
      await scheduler().pass(at(0));
      const l = await service.get('l');
      assert.equal(l.status, 'ended');
      assert.equal(l.run_count, 3);
      assert.equal(l.next_run_at, null);
      const e = await service.get('e');
      assert.equal(e.status, 'ended');
      assert.equal(e.run_count, 2);
      assert.equal((await keys(store())).length, 5);
      await assert.rejects(service.resume('l', at(1)), /no occurrence left/);
      // a higher limit runs it again
      const more = await service.update('l', { limit: 5 }, at(1));
      assert.equal(more.status, 'active');
      assert.deepEqual(more.next_run_at, at(3));
    });

    test('a topic fans out to its subscribers at each occurrence; a missing destination makes none', async () => {
      const st = store();
      await st.destinations.createDestination(
        'a',
        plainSpec('http://127.0.0.1:9/a', { topics: ['news'] }),
        T,
      );
      await st.destinations.createDestination(
        'b',
        plainSpec('http://127.0.0.1:9/b', { topics: ['news'] }),
        T,
      );
      await st.destinations.createDestination('gone', plainSpec('http://127.0.0.1:9/g'), T);
      const { service, scheduler } = parts(st);
      await service.create(
        { id: 'fan', every: '1m', start_at: T.toISOString(), message: { ...message, topic: 'news' } },
        at(-10),
      );
      await service.create(
        { id: 'lost', every: '1m', start_at: T.toISOString(), message: { ...message, destination: 'gone' } },
        at(-10),
      );
      await st.destinations.deleteDestination('gone');
      const r = await scheduler().pass(at(0));
      assert.equal(r.dropped, 1);
      assert.deepEqual(await keys(st), [occurrenceKey('fan', at(0)), `${occurrenceKey('fan', at(0))}#b`]);
      const lead = await st.getByIdempotencyKey(occurrenceKey('fan', at(0)));
      assert.equal(lead?.destination_id, 'a');
      assert.equal(lead?.topic, 'news');
      assert.equal((await service.get('lost')).run_count, 0);
      assert.deepEqual((await service.get('lost')).next_run_at, at(60));
    });

    test('daylight saving, pass by pass: New York 02:30 on 14 March 2027 runs once, at 03:00 EDT', async () => {
      const { service, scheduler } = parts(store());
      await service.create(
        { id: 'ny', cron: '30 2 * * *', timezone: 'America/New_York', message },
        new Date('2027-03-12T12:00:00Z'),
      );
      const s = scheduler();
      // a pass every minute for three days
      for (let t = Date.parse('2027-03-13T00:00:00Z'); t < Date.parse('2027-03-16T00:00:00Z'); t += 60_000) {
        await s.pass(new Date(t));
      }
      assert.deepEqual(await keys(store()), [
        occurrenceKey('ny', new Date('2027-03-13T07:30:00Z')),
        occurrenceKey('ny', new Date('2027-03-14T07:00:00Z')),
        occurrenceKey('ny', new Date('2027-03-15T06:30:00Z')),
      ]);
    });
  });
}
