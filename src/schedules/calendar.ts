/**
 * A schedule's occurrences: a cron pattern read in an IANA time zone (croner, which owns the
 * daylight-saving rules), or a fixed interval, bounded by start_at and end_at. Pure: every node
 * computes the same instants from the same spec, which is what makes an occurrence's idempotency
 * key the same everywhere.
 *
 * Daylight saving (croner's rules, tested in test/schedules-calendar.test.ts): a local time that
 * does not exist (spring forward) runs once, at the first valid instant after the gap; a local time
 * that occurs twice (fall back) runs once, at its first occurrence; patterns with minute or second
 * steps (`*\/15 * * * *`) keep their real-time steps through the repeated hour.
 */
import { Cron } from 'croner';
import type { ScheduleSpec } from '../domain/schedule.js';

export type CalendarSpec = Pick<ScheduleSpec, 'cron' | 'every_ms' | 'timezone' | 'start_at' | 'end_at'>;

export interface Calendar {
  /** the first occurrence strictly after `t` (null: none left) */
  after(t: Date): Date | null;
  /** the first occurrence at or after `t` */
  atOrAfter(t: Date): Date | null;
}

/** `@yearly`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`: croner's nicknames. */
const NICKNAME = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/i;

/** Why `pattern` is not a cron pattern we take (null: it is): 5 fields, or 6 with seconds first. */
export function cronProblem(pattern: string, timezone: string): string | null {
  const fields = pattern.trim().split(/\s+/);
  if (!NICKNAME.test(pattern.trim()) && fields.length !== 5 && fields.length !== 6) {
    return `${JSON.stringify(pattern)} has ${fields.length} fields: expected 5 (minute hour day month weekday) or 6 (second first)`;
  }
  try {
    const c = new Cron(pattern, { timezone, paused: true });
    if (c.nextRun(new Date()) === null) return `${JSON.stringify(pattern)} never runs`;
    return null;
  } catch (err) {
    return `${JSON.stringify(pattern)} is not a cron pattern: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** Whether `name` is an IANA time-zone name this runtime knows. */
export function isTimeZone(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The calendar of a spec. An interval's occurrences are start_at + k × every (k ≥ 0), or, without
 * start_at, created_at + k × every (k ≥ 1): the first one interval after creation.
 */
export function calendarOf(spec: CalendarSpec, createdAt: Date): Calendar {
  const end = spec.end_at?.getTime() ?? Infinity;
  const bounded = (d: Date | null): Date | null => (d === null || d.getTime() > end ? null : d);
  let next: (t: number) => Date | null;
  if (spec.cron !== null) {
    const cron = new Cron(spec.cron, { timezone: spec.timezone, paused: true });
    const start = spec.start_at?.getTime() ?? -Infinity;
    next = (t) => cron.nextRun(new Date(Math.max(t, start - 1)));
  } else if (spec.every_ms !== null) {
    const every = spec.every_ms;
    const anchor = spec.start_at?.getTime() ?? createdAt.getTime() + every;
    next = (t) => {
      if (t < anchor) return new Date(anchor);
      return new Date(anchor + (Math.floor((t - anchor) / every) + 1) * every);
    };
  } else {
    throw new Error('a schedule has a cron pattern or an interval');
  }
  return {
    after: (t) => bounded(next(t.getTime())),
    atOrAfter: (t) => bounded(next(t.getTime() - 1)),
  };
}

/** The next `n` occurrences after `t`. */
export function nextOccurrences(cal: Calendar, t: Date, n: number): Date[] {
  const out: Date[] = [];
  let at: Date | null = t;
  while (out.length < n && (at = cal.after(at)) !== null) out.push(at);
  return out;
}

/** An instant as a wall-clock time in `timezone`, RFC 3339 with its offset (`2027-03-14T03:00:00-04:00`). */
export function localTime(d: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      timeZoneName: 'longOffset',
    })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  const offset = (parts.timeZoneName ?? 'GMT').replace(/^GMT$/, 'GMT+00:00').slice(3);
  const ms = d.getUTCMilliseconds();
  const frac = ms ? `.${String(ms).padStart(3, '0')}` : '';
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${frac}${offset}`;
}
