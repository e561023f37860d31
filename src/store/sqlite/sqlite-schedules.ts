import type Database from 'better-sqlite3';
import type { Schedule, ScheduleSpec, ScheduleStatus } from '../../domain/schedule.js';
import {
  scheduleSpecJson,
  scheduleSpecOf,
  type ScheduleAdvance,
  type ScheduleRead,
  type ScheduleStore,
} from '../schedule-store.js';

interface ScheduleRow {
  id: string;
  spec: string;
  status: ScheduleStatus;
  next_run_at: number | null;
  last_run_at: number | null;
  run_count: number;
  created_at: number;
  updated_at: number;
  version: number;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

const toSchedule = (r: ScheduleRow): Schedule => ({
  id: r.id,
  ...scheduleSpecOf(r.spec),
  status: r.status,
  next_run_at: date(r.next_run_at),
  last_run_at: date(r.last_run_at),
  run_count: r.run_count,
  created_at: new Date(r.created_at),
  updated_at: new Date(r.updated_at),
  version: r.version,
});

/** The schedules table of the SQLite file (migration 12): the spec as JSON, the state in columns. */
export class SqliteSchedules implements ScheduleStore {
  constructor(private readonly db: () => Database.Database) {}

  private row(id: string): ScheduleRow | undefined {
    return this.db().prepare<[string], ScheduleRow>('SELECT * FROM schedules WHERE id = ?').get(id);
  }

  async createSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
  ): Promise<Schedule> {
    const row: ScheduleRow = {
      id,
      spec: scheduleSpecJson(spec),
      status: state.status,
      next_run_at: state.next_run_at?.getTime() ?? null,
      last_run_at: null,
      run_count: 0,
      created_at: now.getTime(),
      updated_at: now.getTime(),
      version: 1,
    };
    this.db()
      .prepare(
        `INSERT INTO schedules (id, spec, status, next_run_at, last_run_at, run_count, created_at, updated_at, version)
         VALUES (@id, @spec, @status, @next_run_at, @last_run_at, @run_count, @created_at, @updated_at, @version)`,
      )
      .run(row);
    return toSchedule(row);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const r = this.row(id);
    return r ? toSchedule(r) : null;
  }

  async listSchedules(q: { after?: string; limit: number; status?: ScheduleStatus }): Promise<Schedule[]> {
    return this.db()
      .prepare<[{ after: string | null; status: string | null; limit: number }], ScheduleRow>(
        `SELECT * FROM schedules WHERE (@after IS NULL OR id > @after) AND (@status IS NULL OR status = @status)
         ORDER BY id LIMIT @limit`,
      )
      .all({ after: q.after ?? null, status: q.status ?? null, limit: q.limit })
      .map(toSchedule);
  }

  async replaceSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
    ifVersion: number,
  ): Promise<Schedule | null> {
    const changed = this.db()
      .prepare(
        `UPDATE schedules SET spec = ?, status = ?, next_run_at = ?, updated_at = ?, version = version + 1
         WHERE id = ? AND version = ?`,
      )
      .run(
        scheduleSpecJson(spec),
        state.status,
        state.next_run_at?.getTime() ?? null,
        now.getTime(),
        id,
        ifVersion,
      ).changes;
    return changed > 0 ? this.getSchedule(id) : null;
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return this.db().prepare('DELETE FROM schedules WHERE id = ?').run(id).changes > 0;
  }

  async dueSchedules(before: Date, limit: number): Promise<Schedule[]> {
    return this.db()
      .prepare<[number, number], ScheduleRow>(
        `SELECT * FROM schedules WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?`,
      )
      .all(before.getTime(), limit)
      .map(toSchedule);
  }

  async advanceSchedule(
    id: string,
    expected: ScheduleRead,
    step: ScheduleAdvance,
    now: Date,
  ): Promise<boolean> {
    return (
      this.db()
        .prepare(
          `UPDATE schedules SET next_run_at = ?, status = ?, run_count = run_count + ?,
             last_run_at = COALESCE(?, last_run_at), updated_at = ?
           WHERE id = ? AND status = 'active' AND next_run_at = ? AND version = ?`,
        )
        .run(
          step.next?.getTime() ?? null,
          step.next === null ? 'ended' : 'active',
          step.runs,
          step.lastRunAt?.getTime() ?? null,
          now.getTime(),
          id,
          expected.next_run_at.getTime(),
          expected.version,
        ).changes > 0
    );
  }
}
