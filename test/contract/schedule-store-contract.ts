import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScheduleSpec } from '../../src/domain/schedule.js';
import { StoreError } from '../../src/store/store-errors.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2027-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

function spec(extra: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return {
    cron: '0 9 * * MON-FRI',
    every_ms: null,
    timezone: 'Europe/Berlin',
    start_at: at(1000),
    end_at: at(86_400_000 * 365),
    limit: 500,
    missed: 'once',
    description: 'daily digest — ünïcode ✓',
    message: {
      content: 'Your digest is ready',
      recipient_phone_number: '+4915112345678',
      priority: 3,
      destination: 'billing',
      topic: null,
    },
    ...extra,
  };
}

/** The schedules part of the storage contract: round trip, pages, versions, the due range, the compare-and-set. */
export function scheduleStoreContract(factory: StoreFactory): void {
  contractSuite('schedule store contract', factory, (store) => {
    test('create and get round-trip every field; a taken id is a conflict; delete', async () => {
      const s = store().schedules;
      const made = await s.createSchedule('digest', spec(), { status: 'active', next_run_at: at(5000) }, T0);
      const read = await s.getSchedule('digest');
      assert.deepEqual(read, made);
      assert.deepEqual(read, {
        id: 'digest',
        ...spec(),
        status: 'active',
        next_run_at: at(5000),
        last_run_at: null,
        run_count: 0,
        created_at: T0,
        updated_at: T0,
        version: 1,
      });
      const every = await s.createSchedule(
        'tick',
        spec({ cron: null, every_ms: 15_000, start_at: null, end_at: null, limit: null, timezone: 'UTC' }),
        { status: 'paused', next_run_at: null },
        T0,
      );
      assert.deepEqual(await s.getSchedule('tick'), every);
      await assert.rejects(
        s.createSchedule('digest', spec(), { status: 'active', next_run_at: at(1) }, T0),
        (e: unknown) => e instanceof StoreError && e.code === 'conflict',
      );
      assert.equal(await s.deleteSchedule('digest'), true);
      assert.equal(await s.deleteSchedule('digest'), false);
      assert.equal(await s.getSchedule('digest'), null);
    });

    test('lists by id after a cursor, of one status', async () => {
      const s = store().schedules;
      for (const [i, id] of ['c', 'a', 'e', 'b', 'd'].entries()) {
        await s.createSchedule(
          id,
          spec(),
          { status: i % 2 ? 'paused' : 'active', next_run_at: at(i * 1000) },
          T0,
        );
      }
      assert.deepEqual(
        (await s.listSchedules({ limit: 2 })).map((x) => x.id),
        ['a', 'b'],
      );
      assert.deepEqual(
        (await s.listSchedules({ after: 'b', limit: 10 })).map((x) => x.id),
        ['c', 'd', 'e'],
      );
      assert.deepEqual(
        (await s.listSchedules({ limit: 10, status: 'paused' })).map((x) => x.id),
        ['a', 'b'],
      );
    });

    test('replace applies only on the version read, and bumps it', async () => {
      const s = store().schedules;
      await s.createSchedule('r', spec(), { status: 'active', next_run_at: at(1000) }, T0);
      const next = spec({ cron: '*/5 * * * *', missed: 'all', description: '' });
      const changed = await s.replaceSchedule('r', next, { status: 'paused', next_run_at: null }, at(10), 1);
      assert.ok(changed);
      assert.equal(changed.version, 2);
      assert.equal(changed.status, 'paused');
      assert.equal(changed.next_run_at, null);
      assert.equal(changed.cron, '*/5 * * * *');
      assert.deepEqual(changed.updated_at, at(10));
      assert.deepEqual(await s.getSchedule('r'), changed);
      assert.equal(
        await s.replaceSchedule('r', spec(), { status: 'active', next_run_at: at(1) }, at(20), 1),
        null,
      );
      assert.equal(
        await s.replaceSchedule('nope', spec(), { status: 'active', next_run_at: at(1) }, at(20), 1),
        null,
      );
      assert.equal((await s.getSchedule('r'))?.version, 2);
    });

    test('due schedules: active ones at or before the instant, earliest first, at most the limit', async () => {
      const s = store().schedules;
      await s.createSchedule('late', spec(), { status: 'active', next_run_at: at(3000) }, T0);
      await s.createSchedule('early', spec(), { status: 'active', next_run_at: at(1000) }, T0);
      await s.createSchedule('exact', spec(), { status: 'active', next_run_at: at(2000) }, T0);
      await s.createSchedule('held', spec(), { status: 'paused', next_run_at: at(500) }, T0);
      await s.createSchedule('done', spec(), { status: 'ended', next_run_at: null }, T0);
      await s.createSchedule('later', spec(), { status: 'active', next_run_at: at(9000) }, T0);
      assert.deepEqual(
        (await s.dueSchedules(at(3000), 10)).map((x) => x.id),
        ['early', 'exact', 'late'],
      );
      assert.deepEqual(
        (await s.dueSchedules(at(3000), 2)).map((x) => x.id),
        ['early', 'exact'],
      );
      assert.deepEqual(await s.dueSchedules(at(999), 10), []);
    });

    test('advance is a compare-and-set on next_run_at: of two racers one moves it', async () => {
      const s = store().schedules;
      await s.createSchedule('cas', spec(), { status: 'active', next_run_at: at(1000) }, T0);
      const step = { next: at(2000), runs: 1, lastRunAt: at(1000) };
      const results = await Promise.all([
        s.advanceSchedule('cas', { next_run_at: at(1000), version: 1 }, step, at(5)),
        s.advanceSchedule('cas', { next_run_at: at(1000), version: 1 }, step, at(6)),
      ]);
      assert.deepEqual(results.sort(), [false, true]);
      let read = await s.getSchedule('cas');
      assert.deepEqual(read?.next_run_at, at(2000));
      assert.deepEqual(read?.last_run_at, at(1000));
      assert.equal(read?.run_count, 1);
      assert.equal(read?.version, 1, 'runs are not changes of the user');
      // a step that makes no message keeps last_run_at
      assert.equal(
        await s.advanceSchedule(
          'cas',
          { next_run_at: at(2000), version: 1 },
          { next: at(7000), runs: 0, lastRunAt: null },
          at(7),
        ),
        true,
      );
      read = await s.getSchedule('cas');
      assert.deepEqual(read?.last_run_at, at(1000));
      // the last occurrence ends it
      assert.equal(
        await s.advanceSchedule(
          'cas',
          { next_run_at: at(7000), version: 1 },
          { next: null, runs: 2, lastRunAt: at(7000) },
          at(8),
        ),
        true,
      );
      read = await s.getSchedule('cas');
      assert.equal(read?.status, 'ended');
      assert.equal(read?.next_run_at, null);
      assert.equal(read?.run_count, 3);
      // not one the user changed since it was read
      await s.createSchedule('v', spec(), { status: 'active', next_run_at: at(1000) }, T0);
      await s.replaceSchedule('v', spec(), { status: 'active', next_run_at: at(1000) }, at(9), 1);
      assert.equal(await s.advanceSchedule('v', { next_run_at: at(1000), version: 1 }, step, at(9)), false);
      assert.equal(await s.advanceSchedule('v', { next_run_at: at(1000), version: 2 }, step, at(9)), true);
      // not a paused one, nor a missing one
      await s.createSchedule('p', spec(), { status: 'paused', next_run_at: at(1000) }, T0);
      assert.equal(await s.advanceSchedule('p', { next_run_at: at(1000), version: 1 }, step, at(9)), false);
      assert.equal(
        await s.advanceSchedule('none', { next_run_at: at(1000), version: 1 }, step, at(9)),
        false,
      );
    });
  });
}
