import type Database from 'better-sqlite3';
import type {
  ControlStore,
  NodeInfo,
  NodeRecord,
  SharedPoolState,
  StoredPoolState,
} from '../control-store.js';
import { activityText, parseActivity } from '../control-store.js';

interface NodeRow {
  id: string;
  role: string;
  state: string;
  in_flight: number;
  version: string;
  started_at: number;
  last_seen: number;
  activity: string | null;
}

/** The control and nodes tables of the SQLite file (migration 5). */
export class SqliteControl implements ControlStore {
  constructor(private readonly db: () => Database.Database) {}

  async getPoolState(): Promise<StoredPoolState | null> {
    const row = this.db()
      .prepare<[], { value: string; updated_at: number; updated_by: string }>(
        `SELECT value, updated_at, updated_by FROM control WHERE key = 'pool'`,
      )
      .get();
    return row
      ? {
          state: row.value as SharedPoolState,
          updated_at: new Date(row.updated_at),
          updated_by: row.updated_by,
        }
      : null;
  }

  async setPoolState(state: SharedPoolState, by: string, now: Date): Promise<StoredPoolState> {
    this.db()
      .prepare(
        `INSERT INTO control (key, value, updated_at, updated_by) VALUES ('pool', ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by`,
      )
      .run(state, now.getTime(), by);
    return { state, updated_at: now, updated_by: by };
  }

  async heartbeat(node: NodeInfo, now: Date): Promise<void> {
    this.db()
      .prepare(
        `INSERT INTO nodes (id, role, state, in_flight, version, started_at, last_seen, activity)
         VALUES (@id, @role, @state, @in_flight, @version, @started_at, @last_seen, @activity)
         ON CONFLICT (id) DO UPDATE SET role = excluded.role, state = excluded.state,
           in_flight = excluded.in_flight, version = excluded.version, last_seen = excluded.last_seen,
           activity = excluded.activity`,
      )
      .run({
        ...node,
        started_at: node.started_at.getTime(),
        last_seen: now.getTime(),
        activity: activityText(node.activity),
      });
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.db()
      .prepare<[], NodeRow>('SELECT * FROM nodes ORDER BY id')
      .all()
      .map((r) => ({
        ...r,
        started_at: new Date(r.started_at),
        last_seen: new Date(r.last_seen),
        activity: parseActivity(r.activity),
      }));
  }

  async removeNodes(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.db()
      .prepare('DELETE FROM nodes WHERE id IN (SELECT value FROM json_each(?))')
      .run(JSON.stringify(ids));
  }
}
