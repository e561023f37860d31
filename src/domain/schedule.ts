/**
 * A schedule: a message template sent on a calendar (a cron pattern in a time zone, or a fixed
 * interval), exactly once per occurrence across the cluster (issue 25). The stores keep it
 * (store/schedule-store.ts); its calendar and the loop that turns occurrences into messages live
 * in src/schedules/. Durations are kept in milliseconds; the API writes them as the config does.
 */
export type ScheduleStatus = 'active' | 'paused' | 'ended';
export const SCHEDULE_STATUSES: readonly ScheduleStatus[] = ['active', 'paused', 'ended'];

/**
 * What happens to occurrences that passed while no node could run them (the cluster was down,
 * or the schedule was behind by more than schedules.missedAfter): `skip` none of them (counted and
 * logged), `once` one message for all of them, `all` one each, oldest first, up to
 * schedules.catchUpMax (the rest skipped).
 */
export type MissedPolicy = 'skip' | 'once' | 'all';
export const MISSED_POLICIES: readonly MissedPolicy[] = ['skip', 'once', 'all'];

/** The message each occurrence sends (a POST /messages body without send_at: the occurrence is that). */
export interface MessageTemplate {
  content: string;
  recipient_phone_number: string;
  priority: number;
  /** the destination it goes to (null: `default`, or the topic's subscribers) */
  destination: string | null;
  /** sent to every destination subscribed to it at each occurrence (null: to `destination`) */
  topic: string | null;
}

/** What a user sets on a schedule (create and update). Exactly one of `cron` and `every_ms`. */
export interface ScheduleSpec {
  /** 5 fields (minute precision), or 6 with seconds first; read in `timezone` */
  cron: string | null;
  /** a fixed interval, from `start_at` (or from creation) */
  every_ms: number | null;
  /** an IANA time-zone name (`UTC`, `Europe/Berlin`) */
  timezone: string;
  /** no occurrence before it (null: from creation) */
  start_at: Date | null;
  /** no occurrence after it; the schedule ends then (null: never) */
  end_at: Date | null;
  /** the most occurrences it sends; the schedule ends after the last (null: no bound) */
  limit: number | null;
  missed: MissedPolicy;
  description: string;
  message: MessageTemplate;
}

/** What is kept about a schedule besides its spec. */
export interface ScheduleState {
  /** a slug, as a destination's id; generated (`sch_…`) when not given */
  id: string;
  status: ScheduleStatus;
  /** the next occurrence no message was made for yet (null: ended) */
  next_run_at: Date | null;
  /** the latest occurrence a message was made for */
  last_run_at: Date | null;
  /** occurrences a message was made for (catch-up runs included, skipped ones not) */
  run_count: number;
  created_at: Date;
  updated_at: Date;
  /** bumped by each change of the user's (not by runs): an update may name the version it read */
  version: number;
}

export interface Schedule extends ScheduleSpec, ScheduleState {}

/** The idempotency key of the message an occurrence makes: the same on every node, however often tried. */
export function occurrenceKey(scheduleId: string, instant: Date): string {
  return `schedule:${scheduleId}:${instant.toISOString()}`;
}

/** Idempotency keys the service keeps for schedules' occurrences (the API refuses them). */
export const SCHEDULE_KEY_PREFIX = 'schedule:';
