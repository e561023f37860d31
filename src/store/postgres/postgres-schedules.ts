import type pg from 'pg';
import type { Schedule, ScheduleSpec, ScheduleState, ScheduleStatus } from '../../domain/schedule.js';
import {
  scheduleSpecJson,
  scheduleSpecOf,
  type ScheduleAdvance,
  type ScheduleRead,
  type ScheduleStore,
} from '../schedule-store.js';

/** A row: the state in columns, the spec as its JSON text. */
type ScheduleRow = ScheduleState & { spec: string };

/** The spec as text (node-postgres would parse jsonb, and its times must become dates). */
const COLUMNS =
  'id, spec::text AS spec, status, next_run_at, last_run_at, run_count, created_at, updated_at, version';

const toSchedule = ({ spec, ...state }: ScheduleRow): Schedule => ({ ...scheduleSpecOf(spec), ...state });

/** The schedules table (migration 12): the spec as jsonb, the state in columns. */
export class PostgresSchedules implements ScheduleStore {
  constructor(private readonly pool: pg.Pool) {}

  async createSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
  ): Promise<Schedule> {
    const { rows } = await this.pool.query<ScheduleRow>(
      `INSERT INTO schedules (id, spec, status, next_run_at, run_count, created_at, updated_at, version)
       VALUES ($1, $2::jsonb, $3, $4, 0, $5, $5, 1) RETURNING ${COLUMNS}`,
      [id, scheduleSpecJson(spec), state.status, state.next_run_at, now],
    );
    return toSchedule(rows[0] as ScheduleRow);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const { rows } = await this.pool.query<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE id = $1`, [
      id,
    ]);
    return rows[0] ? toSchedule(rows[0]) : null;
  }

  async listSchedules(q: { after?: string; limit: number; status?: ScheduleStatus }): Promise<Schedule[]> {
    const { rows } = await this.pool.query<ScheduleRow>(
      `SELECT ${COLUMNS} FROM schedules
       WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)
       ORDER BY id LIMIT $3`,
      [q.after ?? null, q.status ?? null, q.limit],
    );
    return rows.map(toSchedule);
  }

  async replaceSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
    ifVersion: number,
  ): Promise<Schedule | null> {
    const { rows } = await this.pool.query<ScheduleRow>(
      `UPDATE schedules SET spec = $2::jsonb, status = $3, next_run_at = $4, updated_at = $5, version = version + 1
       WHERE id = $1 AND version = $6 RETURNING ${COLUMNS}`,
      [id, scheduleSpecJson(spec), state.status, state.next_run_at, now, ifVersion],
    );
    return rows[0] ? toSchedule(rows[0]) : null;
  }

  async deleteSchedule(id: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM schedules WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async dueSchedules(before: Date, limit: number): Promise<Schedule[]> {
    const { rows } = await this.pool.query<ScheduleRow>(
      `SELECT ${COLUMNS} FROM schedules WHERE status = 'active' AND next_run_at <= $1
       ORDER BY next_run_at LIMIT $2`,
      [before, limit],
    );
    return rows.map(toSchedule);
  }

  async advanceSchedule(
    id: string,
    expected: ScheduleRead,
    step: ScheduleAdvance,
    now: Date,
  ): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE schedules SET next_run_at = $3, status = $4, run_count = run_count + $5,
         last_run_at = COALESCE($6, last_run_at), updated_at = $7
       WHERE id = $1 AND status = 'active' AND next_run_at = $2 AND version = $8`,
      [
        id,
        expected.next_run_at,
        step.next,
        step.next === null ? 'ended' : 'active',
        step.runs,
        step.lastRunAt,
        now,
        expected.version,
      ],
    );
    return (r.rowCount ?? 0) > 0;
  }
}
