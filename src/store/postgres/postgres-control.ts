import type pg from 'pg';
import type {
  ControlStore,
  NodeInfo,
  NodeRecord,
  SharedPoolState,
  StoredPoolState,
} from '../control-store.js';
import { activityText, parseActivity } from '../control-store.js';

/** The control and nodes tables (migration 5), in the store's schema. */
export class PostgresControl implements ControlStore {
  constructor(private readonly pool: pg.Pool) {}

  async getPoolState(): Promise<StoredPoolState | null> {
    const { rows } = await this.pool.query<{ value: SharedPoolState; updated_at: Date; updated_by: string }>(
      `SELECT value, updated_at, updated_by FROM control WHERE key = 'pool'`,
    );
    const r = rows[0];
    return r ? { state: r.value, updated_at: r.updated_at, updated_by: r.updated_by } : null;
  }

  async setPoolState(state: SharedPoolState, by: string, now: Date): Promise<StoredPoolState> {
    await this.pool.query(
      `INSERT INTO control (key, value, updated_at, updated_by) VALUES ('pool', $1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at,
         updated_by = EXCLUDED.updated_by`,
      [state, now, by],
    );
    return { state, updated_at: now, updated_by: by };
  }

  async heartbeat(node: NodeInfo, now: Date): Promise<void> {
    await this.pool.query(
      `INSERT INTO nodes (id, role, state, in_flight, version, started_at, last_seen, activity)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, state = EXCLUDED.state,
         in_flight = EXCLUDED.in_flight, version = EXCLUDED.version, last_seen = EXCLUDED.last_seen,
         activity = EXCLUDED.activity`,
      [
        node.id,
        node.role,
        node.state,
        node.in_flight,
        node.version,
        node.started_at,
        now,
        activityText(node.activity),
      ],
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const { rows } = await this.pool.query<Omit<NodeRecord, 'activity'> & { activity: string | null }>(
      'SELECT * FROM nodes ORDER BY id',
    );
    return rows.map((r) => ({ ...r, activity: parseActivity(r.activity) }));
  }

  async removeNodes(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('DELETE FROM nodes WHERE id = ANY($1)', [ids]);
  }
}
