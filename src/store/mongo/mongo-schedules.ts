import { MongoServerError, type Collection, type IndexDescription } from 'mongodb';
import type { Schedule, ScheduleSpec, ScheduleStatus } from '../../domain/schedule.js';
import {
  scheduleSpecFields,
  type ScheduleAdvance,
  type ScheduleRead,
  type ScheduleStore,
} from '../schedule-store.js';
import { FENCE_STALE_MS, type FenceDoc } from './mongo-docs.js';

export type ScheduleDoc = Omit<Schedule, 'id'> & { _id: string };

const toSchedule = ({ _id, ...rest }: ScheduleDoc): Schedule => ({ id: _id, ...rest });

/**
 * The `<collection>_schedules` collection: one document per schedule, `_id` its id. FerretDB v1
 * runs a conditional update as read-then-write, so the scheduler's compare-and-set goes through a
 * fence first, as a message's transitions do (docs/decisions.md, "MongoDB adapter: fenced
 * transitions"): an insert of `schedule:<id>:<version>:<next_run_at>` on a unique _id, which one
 * node wins.
 */
export class MongoSchedules implements ScheduleStore {
  constructor(
    private readonly col: Collection<ScheduleDoc>,
    private readonly fences: Collection<FenceDoc>,
  ) {}

  static indexes(): IndexDescription[] {
    // the scheduler's read: the active schedules by next_run_at (a compound index rather than a
    // partial one, which FerretDB does not build)
    return [{ key: { status: 1, next_run_at: 1 }, name: 'due' }];
  }

  async createSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
  ): Promise<Schedule> {
    const doc: ScheduleDoc = {
      _id: id,
      ...scheduleSpecFields(spec),
      status: state.status,
      next_run_at: state.next_run_at,
      last_run_at: null,
      run_count: 0,
      created_at: now,
      updated_at: now,
      version: 1,
    };
    await this.col.insertOne(doc);
    return toSchedule(doc);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const d = await this.col.findOne({ _id: id });
    return d ? toSchedule(d) : null;
  }

  async listSchedules(q: { after?: string; limit: number; status?: ScheduleStatus }): Promise<Schedule[]> {
    const filter: Record<string, unknown> = {};
    if (q.after !== undefined) filter._id = { $gt: q.after };
    if (q.status !== undefined) filter.status = q.status;
    const docs = await this.col.find(filter).sort({ _id: 1 }).limit(q.limit).toArray();
    return docs.map(toSchedule);
  }

  async replaceSchedule(
    id: string,
    spec: ScheduleSpec,
    state: { status: ScheduleStatus; next_run_at: Date | null },
    now: Date,
    ifVersion: number,
  ): Promise<Schedule | null> {
    const r = await this.col.findOneAndUpdate(
      { _id: id, version: ifVersion },
      {
        $set: { ...scheduleSpecFields(spec), ...state, updated_at: now },
        $inc: { version: 1 },
      },
      { returnDocument: 'after' },
    );
    return r ? toSchedule(r) : null;
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return (await this.col.deleteOne({ _id: id })).deletedCount > 0;
  }

  async dueSchedules(before: Date, limit: number): Promise<Schedule[]> {
    const docs = await this.col
      .find({ status: 'active', next_run_at: { $lte: before } })
      .sort({ next_run_at: 1 })
      .limit(limit)
      .toArray();
    return docs.map(toSchedule);
  }

  /** True: this caller won the step from `expected`. */
  private async fence(id: string, expected: ScheduleRead, now: Date): Promise<boolean> {
    const _id = `schedule:${id}:${expected.version}:${expected.next_run_at.getTime()}`;
    const take = async (): Promise<boolean> => {
      try {
        await this.fences.insertOne({ _id, at: now, by: 'scheduler', to: 'advance' });
        return true;
      } catch (err) {
        if (err instanceof MongoServerError && err.code === 11000) return false;
        throw err;
      }
    };
    if (await take()) return true;
    // a node that died between its fence and its update left the schedule where it was: once the
    // fence is stale (fence and update are milliseconds apart), the step is taken again
    const stale = await this.fences.deleteOne({ _id, at: { $lt: new Date(now.getTime() - FENCE_STALE_MS) } });
    return stale.deletedCount > 0 && (await take());
  }

  async advanceSchedule(
    id: string,
    expected: ScheduleRead,
    step: ScheduleAdvance,
    now: Date,
  ): Promise<boolean> {
    if (!(await this.fence(id, expected, now))) return false;
    const r = await this.col.updateOne(
      { _id: id, status: 'active', next_run_at: expected.next_run_at, version: expected.version },
      {
        $set: {
          next_run_at: step.next,
          status: step.next === null ? 'ended' : 'active',
          updated_at: now,
          ...(step.lastRunAt ? { last_run_at: step.lastRunAt } : {}),
        },
        $inc: { run_count: step.runs },
      },
    );
    return r.modifiedCount > 0;
  }
}
