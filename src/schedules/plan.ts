/**
 * What one pass of the scheduler does with one due schedule, decided from the schedule as read and
 * the time: the occurrences to make messages for, the ones skipped as missed, and the step that
 * moves it on. Pure (no clock, no I/O): every node decides the same from the same row, and the
 * tests drive it with a fake clock across daylight-saving changes.
 */
import type { Schedule } from '../domain/schedule.js';
import type { ScheduleAdvance } from '../store/schedule-store.js';
import { calendarOf } from './calendar.js';

export interface PlanSettings {
  /** make messages this far ahead of their instant */
  lookaheadMs: number;
  /** an occurrence not made by this long after its instant is missed */
  missedAfterMs: number;
  /** `missed: all` makes at most this many missed occurrences */
  catchUpMax: number;
}

/** An occurrence to make a message for: the instant its key names, and the message's send_at. */
export interface Run {
  instant: Date;
  sendAt: Date;
  /** made as the one catch-up run of `missed: once` */
  catchUp: boolean;
}

export interface Plan {
  runs: Run[];
  /** missed occurrences no message is made for (a lower bound past MISSED_COUNT_MAX) */
  skipped: number;
  step: ScheduleAdvance;
}

/** Occurrences one pass makes for one schedule at most; the next pass goes on from there. */
export const RUNS_PER_PASS = 1000;
/** Missed occurrences counted one by one at most (an every-second schedule down for a month) */
export const MISSED_COUNT_MAX = 100_000;

/** The plan for `s` (active, next_run_at set) at `now`. */
export function planRuns(s: Schedule, now: Date, o: PlanSettings): Plan {
  const cal = calendarOf(s, s.created_at);
  const runs: Run[] = [];
  let skipped = 0;
  let left = s.limit === null ? Infinity : Math.max(0, s.limit - s.run_count);
  let t: Date | null = s.next_run_at;
  const missedBefore = now.getTime() - o.missedAfterMs;
  if (t !== null && t.getTime() < missedBefore) {
    const first: Date = t;
    let count = 0;
    const kept: Date[] = [];
    const keep = s.missed === 'all' ? Math.min(o.catchUpMax, left) : 0;
    while (t !== null && t.getTime() < missedBefore && count < MISSED_COUNT_MAX) {
      count++;
      if (kept.length < keep) kept.push(t);
      t = cal.after(t);
    }
    // past the count's bound: the first occurrence that is not missed, directly
    if (t !== null && t.getTime() < missedBefore) t = cal.atOrAfter(new Date(missedBefore));
    if (s.missed === 'once' && left > 0) {
      // keyed by the first missed instant, which every node read the same: one message for all
      runs.push({ instant: first, sendAt: now, catchUp: true });
      skipped = count - 1;
    } else {
      for (const instant of kept) runs.push({ instant, sendAt: instant, catchUp: false });
      skipped = count - kept.length;
    }
    left -= runs.length;
  }
  const horizon = now.getTime() + o.lookaheadMs;
  while (t !== null && t.getTime() <= horizon && left > 0 && runs.length < RUNS_PER_PASS) {
    runs.push({ instant: t, sendAt: t, catchUp: false });
    left--;
    t = cal.after(t);
  }
  const last = runs[runs.length - 1];
  return {
    runs,
    skipped,
    step: {
      next: left <= 0 ? null : t,
      runs: runs.length,
      lastRunAt: last ? last.instant : null,
    },
  };
}
