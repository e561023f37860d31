import type pg from 'pg';
import type {
  AttemptStats,
  Circuit,
  CircuitFields,
  DestinationHealthStore,
} from '../destination-health-store.js';

const COLUMNS = 'destination_id, state, opened_at, until, probe_owner, failing_since, rev, updated_at';

/** Circuits in their table (migration 11); health figures from the attempts and the lanes' index. */
export class PostgresHealth implements DestinationHealthStore {
  constructor(private readonly pool: pg.Pool) {}

  async listCircuits(): Promise<Circuit[]> {
    const { rows } = await this.pool.query<Circuit>(
      `SELECT ${COLUMNS} FROM destination_circuits ORDER BY destination_id`,
    );
    return rows;
  }

  async getCircuit(id: string): Promise<Circuit | null> {
    const { rows } = await this.pool.query<Circuit>(
      `SELECT ${COLUMNS} FROM destination_circuits WHERE destination_id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async setCircuit(id: string, rev: number, next: CircuitFields, now: Date): Promise<Circuit | null> {
    const values = [
      id,
      next.state,
      next.opened_at,
      next.until,
      next.probe_owner,
      next.failing_since,
      rev,
      now,
    ];
    const { rows } = await this.pool.query<Circuit>(
      rev === 0
        ? `INSERT INTO destination_circuits (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7 + 1, $8)
           ON CONFLICT (destination_id) DO NOTHING RETURNING ${COLUMNS}`
        : `UPDATE destination_circuits SET state = $2, opened_at = $3, until = $4, probe_owner = $5,
             failing_since = $6, rev = $7 + 1, updated_at = $8
           WHERE destination_id = $1 AND rev = $7 RETURNING ${COLUMNS}`,
      values,
    );
    return rows[0] ?? null;
  }

  async deleteCircuit(id: string): Promise<void> {
    await this.pool.query('DELETE FROM destination_circuits WHERE destination_id = $1', [id]);
  }

  async attemptStats(id: string, since: Date): Promise<AttemptStats> {
    const { rows } = await this.pool.query<{
      successes: string;
      failures: string;
      last_success_at: Date | null;
      last_failure_at: Date | null;
    }>(
      `SELECT
         (SELECT count(*) FROM delivery_attempts
            WHERE destination_id = $1 AND outcome = 'sent' AND started_at >= $2) AS successes,
         (SELECT count(*) FROM delivery_attempts
            WHERE destination_id = $1 AND outcome <> 'sent' AND started_at >= $2) AS failures,
         (SELECT max(started_at) FROM delivery_attempts
            WHERE destination_id = $1 AND outcome = 'sent') AS last_success_at,
         (SELECT max(started_at) FROM delivery_attempts
            WHERE destination_id = $1 AND outcome <> 'sent') AS last_failure_at`,
      [id, since],
    );
    const r = rows[0];
    return {
      successes: Number(r?.successes ?? 0),
      failures: Number(r?.failures ?? 0),
      last_success_at: r?.last_success_at ?? null,
      last_failure_at: r?.last_failure_at ?? null,
    };
  }

  async inFlight(id: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM messages WHERE status = 'processing' AND destination_id = $1`,
      [id],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async dueBacklog(id: string, now: Date): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM messages
       WHERE status = 'unsent' AND destination_id = $1 AND due_at <= $2`,
      [id, now],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
