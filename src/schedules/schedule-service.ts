/**
 * What the API and the CLI do with schedules, in one place: check the input (spec-input.ts),
 * compute the next occurrence, keep pause/resume/trigger's rules. Errors carry a kind the API maps
 * to its codes. A change is written on the version read (compare-and-set): a scheduler moving the
 * schedule on meanwhile does not lose it, nor does it lose the scheduler's step.
 */
import { randomBytes } from 'node:crypto';
import { DESTINATION_ID } from '../domain/destination.js';
import type { Message } from '../domain/message.js';
import type { Schedule, ScheduleSpec, ScheduleStatus } from '../domain/schedule.js';
import { SCHEDULE_KEY_PREFIX } from '../domain/schedule.js';
import type { MessageStore } from '../store/store.js';
import { StoreError } from '../store/store-errors.js';
import { calendarOf, nextOccurrences } from './calendar.js';
import {
  noMessageText,
  occurrenceMessages,
  recipientsOf,
  type DestinationExists,
} from './occurrence-messages.js';
import { scheduleSpecFromInput, type Problem, type ScheduleInput } from './spec-input.js';

export type ScheduleErrorKind =
  'invalid' | 'not_found' | 'exists' | 'stale' | 'unknown_destination' | 'no_subscriber' | 'ended';

export class ScheduleError extends Error {
  override name = 'ScheduleError';
  constructor(
    readonly kind: ScheduleErrorKind,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

export interface SchedulePage {
  items: Schedule[];
  next: string | null;
}

export interface ScheduleServiceOptions {
  store: Pick<MessageStore, 'schedules' | 'destinations' | 'create'>;
  exists: DestinationExists;
  /** messages were made (a trigger): wake the worker pools */
  onCreated?: () => void;
}

/** A generated id: `sch_` and 16 hex digits. */
export function generatedScheduleId(): string {
  return `sch_${randomBytes(8).toString('hex')}`;
}

const invalid = (problems: Problem[]): ScheduleError =>
  new ScheduleError('invalid', problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);

/** Changes retried when the scheduler moved the schedule on between the read and the write. */
const WRITE_TRIES = 5;

export class ScheduleService {
  constructor(private readonly o: ScheduleServiceOptions) {}

  /**
   * Where a schedule is from `now`: the next occurrence after both `now` and its last run (ticks
   * passed while it was paused are not caught up), and its status (ended: none left, or its limit
   * reached).
   */
  private stateFrom(
    spec: ScheduleSpec,
    createdAt: Date,
    s: Pick<Schedule, 'last_run_at' | 'run_count'> | null,
    status: Exclude<ScheduleStatus, 'ended'>,
    now: Date,
  ): { status: ScheduleStatus; next_run_at: Date | null } {
    const cal = calendarOf(spec, createdAt);
    const last = s?.last_run_at?.getTime() ?? -Infinity;
    const next = now.getTime() > last ? cal.atOrAfter(now) : cal.after(new Date(last));
    if (next === null || (spec.limit !== null && (s?.run_count ?? 0) >= spec.limit)) {
      return { status: 'ended', next_run_at: null };
    }
    return { status, next_run_at: next };
  }

  private async checkTarget(spec: ScheduleSpec): Promise<void> {
    const d = spec.message.destination;
    if (d !== null && !(await this.o.exists(d))) {
      throw new ScheduleError('unknown_destination', `/message/destination: no destination ${d}`);
    }
  }

  async create(input: ScheduleInput, now: Date): Promise<Schedule> {
    const { spec, problems } = scheduleSpecFromInput(input, null, now);
    if (input.id !== undefined && !DESTINATION_ID.test(input.id)) {
      problems.push({ path: '/id', message: 'expected a slug: a-z, 0-9, - and _, at most 64' });
    }
    if (problems.length > 0) throw invalid(problems);
    await this.checkTarget(spec);
    const state = this.stateFrom(spec, now, null, 'active', now);
    if (state.next_run_at === null) {
      throw invalid([
        { path: '/cron', message: 'no occurrence between start_at and end_at: it would never run' },
      ]);
    }
    const id = input.id ?? generatedScheduleId();
    try {
      return await this.o.store.schedules.createSchedule(id, spec, state, now);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'conflict') {
        throw new ScheduleError('exists', `schedule ${id} already exists`);
      }
      throw err;
    }
  }

  async get(id: string): Promise<Schedule> {
    const s = await this.o.store.schedules.getSchedule(id);
    if (!s) throw new ScheduleError('not_found', `no schedule ${id}`);
    return s;
  }

  /** Its next `n` occurrences (none while paused or ended). */
  upcoming(s: Schedule, n = 10): Date[] {
    if (s.status !== 'active' || s.next_run_at === null) return [];
    const left = s.limit === null ? n : Math.min(n, s.limit - s.run_count);
    if (left <= 0) return [];
    const cal = calendarOf(s, s.created_at);
    return [s.next_run_at, ...nextOccurrences(cal, s.next_run_at, left - 1)];
  }

  async list(q: { after?: string; limit: number; status?: ScheduleStatus }): Promise<SchedulePage> {
    const items = await this.o.store.schedules.listSchedules({ ...q, limit: q.limit + 1 });
    const page = items.slice(0, q.limit);
    return { items: page, next: items.length > q.limit ? (page[page.length - 1]?.id ?? null) : null };
  }

  /**
   * Writes what `change` decides from the schedule as read, on the version read; read again and
   * decided again when the scheduler moved it on meanwhile. With `ifVersion`, only on that version.
   */
  private async write(
    id: string,
    now: Date,
    ifVersion: number | undefined,
    change: (
      s: Schedule,
    ) => Promise<{ spec: ScheduleSpec; status: ScheduleStatus; next_run_at: Date | null }>,
  ): Promise<Schedule> {
    for (let i = 0; ; i++) {
      const s = await this.get(id);
      if (ifVersion !== undefined && s.version !== ifVersion) {
        throw new ScheduleError(
          'stale',
          `schedule ${id} has changed since version ${ifVersion}: read it again`,
        );
      }
      const { spec, ...state } = await change(s);
      const written = await this.o.store.schedules.replaceSchedule(id, spec, state, now, s.version);
      if (written) return written;
      if (ifVersion !== undefined || i >= WRITE_TRIES) {
        throw new ScheduleError('stale', `schedule ${id} changed while it was written: read it again`);
      }
    }
  }

  async update(id: string, input: ScheduleInput, now: Date, ifVersion?: number): Promise<Schedule> {
    return this.write(id, now, ifVersion, async (s) => {
      const { spec, problems, timingChanged } = scheduleSpecFromInput(input, s, now);
      if (problems.length > 0) throw invalid(problems);
      if (input.message?.destination !== undefined) await this.checkTarget(spec);
      // a new calendar, or a new bound, decides the next occurrence again (an ended schedule whose
      // end or limit moved runs again); otherwise it stays where it is
      if (timingChanged || (input.limit !== undefined && s.status !== 'paused')) {
        const status = s.status === 'paused' ? 'paused' : 'active';
        return { spec, ...this.stateFrom(spec, s.created_at, s, status, now) };
      }
      return { spec, status: s.status, next_run_at: s.next_run_at };
    });
  }

  async pause(id: string, now: Date): Promise<Schedule> {
    return this.write(id, now, undefined, async (s) => {
      if (s.status === 'ended')
        throw new ScheduleError('ended', `schedule ${id} has ended: nothing to pause`);
      return { spec: s, status: 'paused', next_run_at: s.next_run_at };
    });
  }

  /** Active again from now: occurrences that passed while it was paused are not made. */
  async resume(id: string, now: Date): Promise<Schedule> {
    return this.write(id, now, undefined, async (s) => {
      if (s.status === 'active') return { spec: s, status: 'active', next_run_at: s.next_run_at };
      const state = this.stateFrom(s, s.created_at, s, 'active', now);
      if (state.status === 'ended') {
        throw new ScheduleError(
          'ended',
          `schedule ${id} has no occurrence left (its end_at or limit): change them to run it again`,
        );
      }
      return { spec: s, ...state };
    });
  }

  /**
   * One run now, outside the calendar: its message (a fan-out for a topic), keyed by `key` (the
   * request's Idempotency-Key, or a new one), so a retried trigger makes it once. The schedule's
   * state (next run, run count, limit) does not change.
   */
  async trigger(id: string, now: Date, key?: string): Promise<{ messages: Message[]; created: boolean }> {
    const s = await this.get(id);
    const to = await recipientsOf(s, { destinations: this.o.store.destinations, exists: this.o.exists });
    if ('none' in to) {
      const kind = {
        no_destination: 'unknown_destination',
        no_subscriber: 'no_subscriber',
        too_many_subscribers: 'invalid',
      } as const;
      const path = to.none === 'no_destination' ? '/message/destination' : '/message/topic';
      throw new ScheduleError(kind[to.none], `${path}: ${noMessageText(to.none, s)}`);
    }
    const k = `${SCHEDULE_KEY_PREFIX}${id}:trigger:${key ?? randomBytes(8).toString('hex')}`;
    const results = await this.o.store.create(occurrenceMessages(s, to, k, now), now);
    const created = results.some((r) => r.created);
    if (created) this.o.onCreated?.();
    return { messages: results.map((r) => r.message), created };
  }

  async remove(id: string): Promise<void> {
    if (!(await this.o.store.schedules.deleteSchedule(id))) {
      throw new ScheduleError('not_found', `no schedule ${id}`);
    }
  }
}
