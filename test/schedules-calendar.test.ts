import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Schedule, ScheduleSpec } from '../src/domain/schedule.js';
import {
  calendarOf,
  cronProblem,
  isTimeZone,
  localTime,
  nextOccurrences,
} from '../src/schedules/calendar.js';
import { planRuns, type PlanSettings } from '../src/schedules/plan.js';

const iso = (ds: (Date | null)[]): (string | null)[] => ds.map((d) => d?.toISOString() ?? null);

function spec(extra: Partial<ScheduleSpec>): ScheduleSpec {
  return {
    cron: null,
    every_ms: null,
    timezone: 'UTC',
    start_at: null,
    end_at: null,
    limit: null,
    missed: 'skip',
    description: '',
    message: { content: 'hi', recipient_phone_number: '+1', priority: 0, destination: null, topic: null },
    ...extra,
  };
}

/** Every occurrence in [from, to), from a fake clock's point of view: the calendar alone. */
function between(s: ScheduleSpec, from: string, to: string): string[] {
  const cal = calendarOf(s, new Date(from));
  const out: string[] = [];
  let t = cal.atOrAfter(new Date(from));
  while (t && t < new Date(to)) {
    out.push(t.toISOString());
    t = cal.after(t);
  }
  return out;
}

describe('daylight saving, 2027 (README "Schedules")', () => {
  test('America/New_York, spring forward (14 March): 02:30 does not exist, it runs once at 03:00 EDT', () => {
    const s = spec({ cron: '30 2 * * *', timezone: 'America/New_York' });
    assert.deepEqual(between(s, '2027-03-13T00:00:00Z', '2027-03-16T00:00:00Z'), [
      '2027-03-13T07:30:00.000Z', // 02:30 EST
      '2027-03-14T07:00:00.000Z', // 03:00 EDT, the first valid instant after the gap
      '2027-03-15T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  test('America/New_York, fall back (7 November): 01:30 occurs twice, it runs once', () => {
    const s = spec({ cron: '30 1 * * *', timezone: 'America/New_York' });
    assert.deepEqual(between(s, '2027-11-06T00:00:00Z', '2027-11-09T00:00:00Z'), [
      '2027-11-06T05:30:00.000Z', // 01:30 EDT
      '2027-11-07T05:30:00.000Z', // 01:30 EDT, the first of the two
      '2027-11-08T06:30:00.000Z', // 01:30 EST
    ]);
  });

  test('Europe/Berlin, spring forward (28 March): 02:30 does not exist, it runs once at 03:00 CEST', () => {
    const s = spec({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    assert.deepEqual(between(s, '2027-03-27T00:00:00Z', '2027-03-30T00:00:00Z'), [
      '2027-03-27T01:30:00.000Z',
      '2027-03-28T01:00:00.000Z',
      '2027-03-29T00:30:00.000Z',
    ]);
  });

  test('Europe/Berlin, fall back (31 October): 02:30 occurs twice, it runs once', () => {
    const s = spec({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    assert.deepEqual(between(s, '2027-10-30T00:00:00Z', '2027-11-02T00:00:00Z'), [
      '2027-10-30T00:30:00.000Z',
      '2027-10-31T00:30:00.000Z', // 02:30 CEST, the first of the two
      '2027-11-01T01:30:00.000Z',
    ]);
  });

  test('a step pattern keeps real-time steps through the repeated hour, none twice', () => {
    const s = spec({ cron: '*/30 * * * *', timezone: 'Europe/Berlin' });
    const runs = between(s, '2027-10-30T23:00:00Z', '2027-10-31T02:00:00Z');
    assert.deepEqual(runs, [
      '2027-10-30T23:00:00.000Z',
      '2027-10-30T23:30:00.000Z',
      '2027-10-31T00:00:00.000Z', // 02:00 CEST
      '2027-10-31T00:30:00.000Z',
      '2027-10-31T01:00:00.000Z', // 02:00 CET
      '2027-10-31T01:30:00.000Z',
    ]);
    assert.equal(new Set(runs).size, runs.length);
  });

  test('a daily 09:00 keeps 09:00 local across both changes, in both zones', () => {
    for (const [tz, spring, fall] of [
      ['America/New_York', '2027-03-14', '2027-11-07'],
      ['Europe/Berlin', '2027-03-28', '2027-10-31'],
    ] as const) {
      const s = spec({ cron: '0 9 * * *', timezone: tz });
      for (const day of [spring, fall]) {
        const from = new Date(`${day}T00:00:00Z`);
        const cal = calendarOf(s, from);
        const days = nextOccurrences(cal, new Date(from.getTime() - 86_400_000 * 2), 4);
        for (const d of days)
          assert.match(localTime(d, tz), /T09:00:00[+-]\d\d:\d\d$/, `${tz} ${d.toISOString()}`);
      }
    }
  });

  test('local times show the offset of the day', () => {
    assert.equal(
      localTime(new Date('2027-03-14T07:00:00Z'), 'America/New_York'),
      '2027-03-14T03:00:00-04:00',
    );
    assert.equal(localTime(new Date('2027-01-01T00:00:00Z'), 'UTC'), '2027-01-01T00:00:00+00:00');
  });
});

describe('calendar', () => {
  test('patterns: 5 or 6 fields, nicknames; others named', () => {
    assert.equal(cronProblem('0 9 * * MON-FRI', 'UTC'), null);
    assert.equal(cronProblem('*/5 * * * * *', 'UTC'), null);
    assert.equal(cronProblem('@daily', 'UTC'), null);
    assert.match(cronProblem('1 2 3', 'UTC') ?? '', /3 fields/);
    assert.match(cronProblem('* * * * * * *', 'UTC') ?? '', /7 fields/);
    assert.match(cronProblem('x y z a b', 'UTC') ?? '', /not a cron pattern/);
    assert.match(cronProblem('0 0 30 2 *', 'UTC') ?? '', /never runs/);
    assert.equal(isTimeZone('Europe/Berlin'), true);
    assert.equal(isTimeZone('Mars/Olympus'), false);
    assert.equal(isTimeZone(''), false);
  });

  test('intervals: from start_at, or one interval after creation; bounded by end_at', () => {
    const created = new Date('2027-01-01T00:00:07Z');
    const free = calendarOf(spec({ every_ms: 15 * 60_000 }), created);
    assert.deepEqual(iso(nextOccurrences(free, created, 2)), [
      '2027-01-01T00:15:07.000Z',
      '2027-01-01T00:30:07.000Z',
    ]);
    const anchored = calendarOf(
      spec({
        every_ms: 60_000,
        start_at: new Date('2027-01-01T01:00:00Z'),
        end_at: new Date('2027-01-01T01:02:00Z'),
      }),
      created,
    );
    assert.deepEqual(iso([anchored.atOrAfter(created)]), ['2027-01-01T01:00:00.000Z']);
    assert.deepEqual(iso(nextOccurrences(anchored, created, 10)), [
      '2027-01-01T01:00:00.000Z',
      '2027-01-01T01:01:00.000Z',
      '2027-01-01T01:02:00.000Z',
    ]);
  });
});

describe('plan: one pass for one schedule', () => {
  const settings: PlanSettings = { lookaheadMs: 5000, missedAfterMs: 60_000, catchUpMax: 3 };
  const T = new Date('2027-06-01T12:00:00Z');
  const at = (s: number): Date => new Date(T.getTime() + s * 1000);
  function schedule(extra: Partial<Schedule>): Schedule {
    return {
      ...spec({ every_ms: 1000, start_at: T }),
      id: 's',
      status: 'active',
      next_run_at: T,
      last_run_at: null,
      run_count: 0,
      created_at: T,
      updated_at: T,
      version: 1,
      ...extra,
    };
  }

  test('on time: the occurrences within the lookahead, send_at = the occurrence', () => {
    const p = planRuns(schedule({}), at(-2), settings);
    assert.deepEqual(iso(p.runs.map((r) => r.instant)), iso([at(0), at(1), at(2), at(3)]));
    assert.deepEqual(iso(p.runs.map((r) => r.sendAt)), iso([at(0), at(1), at(2), at(3)]));
    assert.deepEqual(p.step, { next: at(4), runs: 4, lastRunAt: at(3) });
    assert.equal(p.skipped, 0);
  });

  test('late but not missed: made at once', () => {
    const p = planRuns(schedule({}), at(30), settings);
    assert.equal(p.runs.length, 36);
    assert.equal(p.skipped, 0);
  });

  test('missed, skip: none of the missed ones, counted; on from the first not missed', () => {
    const p = planRuns(schedule({ missed: 'skip' }), at(100), settings);
    assert.equal(p.skipped, 40); // 0..39 are older than 60 s
    assert.deepEqual(p.runs[0]?.instant, at(40));
    assert.equal(p.runs.length, 66); // 40..105
  });

  test('missed, once: one message now, keyed by the first missed occurrence', () => {
    const p = planRuns(schedule({ missed: 'once' }), at(100), settings);
    assert.deepEqual(p.runs[0], { instant: at(0), sendAt: at(100), catchUp: true });
    assert.equal(p.skipped, 39);
    assert.deepEqual(p.runs[1]?.instant, at(40));
  });

  test('missed, all: each, oldest first, up to the cap; the rest skipped', () => {
    const p = planRuns(schedule({ missed: 'all' }), at(100), settings);
    assert.deepEqual(iso(p.runs.slice(0, 4).map((r) => r.instant)), iso([at(0), at(1), at(2), at(40)]));
    assert.equal(p.skipped, 37);
  });

  test('limit: the last run ends it', () => {
    const p = planRuns(schedule({ limit: 5, run_count: 3 }), at(-2), settings);
    assert.equal(p.runs.length, 2);
    assert.equal(p.step.next, null);
  });

  test('end_at: no occurrence after it; then it ends', () => {
    const p = planRuns(schedule({ end_at: at(1) }), at(10), settings);
    assert.deepEqual(iso(p.runs.map((r) => r.instant)), iso([at(0), at(1)]));
    assert.equal(p.step.next, null);
  });

  test('a year of every-second downtime is counted without enumerating it', () => {
    const started = performance.now();
    const p = planRuns(schedule({ missed: 'skip' }), new Date(T.getTime() + 365 * 86_400_000), settings);
    assert.ok(p.skipped >= 100_000);
    assert.ok(
      p.runs.length > 0 &&
        p.runs[0] &&
        p.runs[0].instant.getTime() >= T.getTime() + 365 * 86_400_000 - 60_000,
    );
    assert.ok(performance.now() - started < 5000);
  });
});
