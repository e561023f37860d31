import type { Schedule, ScheduleSpec, ScheduleStatus } from '../domain/schedule.js';

/** What the scheduler read of a schedule, and moves it on from. */
export interface ScheduleRead {
  next_run_at: Date;
  version: number;
}

/** How the scheduler moves a schedule on once it made the messages of its occurrences. */
export interface ScheduleAdvance {
  /** the next occurrence without a message (null: none left; the status becomes `ended`) */
  next: Date | null;
  /** occurrences whose messages were made by this step */
  runs: number;
  /** the latest of them (null: none; last_run_at stays) */
  lastRunAt: Date | null;
}

/**
 * Schedules, as each store keeps them (a table, or a collection): a small interface of its own
 * (`store.schedules`), implemented by every adapter and covered by its own contract suite
 * (test/contract/schedule-store-contract.ts). Every node sharing the store shares them.
 */
export interface ScheduleStore {
  /** Stores a new schedule, version 1; a StoreError `conflict` when the id is taken. */
  createSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
  ): Promise<Schedule>;
  getSchedule(id: string): Promise<Schedule | null>;
  /** By id, after `after` (a page's last id), at most `limit`; of one status when given. */
  listSchedules(q: { after?: string; limit: number; status?: ScheduleStatus }): Promise<Schedule[]>;
  /**
   * Replaces the spec, the status and next_run_at, only when the stored version is `ifVersion`
   * (the service read it, decided, and writes). Bumps the version. Null: no such schedule, or
   * another version.
   */
  replaceSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
    ifVersion: number,
  ): Promise<Schedule | null>;
  /** True when it was there. */
  deleteSchedule(id: string): Promise<boolean>;
  /**
   * Active schedules whose next_run_at is at or before `before`, earliest first, at most `limit`:
   * one range of an index on next_run_at (of active schedules only), whatever their number.
   */
  dueSchedules(before: Date, limit: number): Promise<Schedule[]>;
  /**
   * Moves an active schedule on from `expected` (its next_run_at and version as read), when it is
   * still active, still there, and unchanged: the compare-and-set that makes two nodes racing for
   * the same occurrences agree on one outcome. False: another node, or a change of the user's,
   * moved it first.
   */
  advanceSchedule(id: string, expected: ScheduleRead, step: ScheduleAdvance, now: Date): Promise<boolean>;
}

/** A spec as JSON text (SQL stores keep the spec in one column), times as ISO strings. */
export function scheduleSpecJson(spec: ScheduleSpec): string {
  return JSON.stringify(spec);
}

/** The spec back from its JSON text. */
export function scheduleSpecOf(json: string): ScheduleSpec {
  const raw = JSON.parse(json) as Omit<ScheduleSpec, 'start_at' | 'end_at'> & {
    start_at: string | null;
    end_at: string | null;
  };
  return {
    ...raw,
    start_at: raw.start_at === null ? null : new Date(raw.start_at),
    end_at: raw.end_at === null ? null : new Date(raw.end_at),
  };
}

/** The spec's fields, in the order the stores write them. */
export const SCHEDULE_SPEC_FIELDS = [
  'cron',
  'every_ms',
  'timezone',
  'start_at',
  'end_at',
  'limit',
  'missed',
  'description',
  'message',
] as const satisfies readonly (keyof ScheduleSpec)[];

/** The spec's fields of a schedule (or of a stored document holding them). */
export function scheduleSpecFields(s: ScheduleSpec): ScheduleSpec {
  return Object.fromEntries(SCHEDULE_SPEC_FIELDS.map((k) => [k, s[k]])) as unknown as ScheduleSpec;
}
