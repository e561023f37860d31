import type pg from 'pg';
import type {
  Destination,
  DestinationSpec,
  DestinationState,
  DestinationStatus,
} from '../../domain/destination.js';
import { patched, specJson, specOf, type DestinationStore } from '../destination-store.js';

/** A row: the state in columns, the spec as its JSON text. */
type DestinationRow = DestinationState & { spec: string };

/** The spec as text (node-postgres would parse jsonb, and the secrets' expiries must become dates). */
const COLUMNS =
  'id, spec::text AS spec, status, disabled_reason, disabled_at, created_at, updated_at, version';

const toDestination = ({ spec, ...state }: DestinationRow): Destination => ({ ...specOf(spec), ...state });

/** The destinations table (migration 8): the spec as jsonb, the state in columns. */
export class PostgresDestinations implements DestinationStore {
  constructor(private readonly pool: pg.Pool) {}

  async createDestination(id: string, spec: DestinationSpec, now: Date): Promise<Destination> {
    const { rows } = await this.pool.query<DestinationRow>(
      `INSERT INTO destinations (id, spec, status, created_at, updated_at, version)
       VALUES ($1, $2::jsonb, 'active', $3, $3, 1) RETURNING ${COLUMNS}`,
      [id, specJson(spec), now],
    );
    return toDestination(rows[0] as DestinationRow);
  }

  async getDestination(id: string): Promise<Destination | null> {
    const { rows } = await this.pool.query<DestinationRow>(
      `SELECT ${COLUMNS} FROM destinations WHERE id = $1`,
      [id],
    );
    return rows[0] ? toDestination(rows[0]) : null;
  }

  async listDestinations(q: { after?: string; limit: number; topic?: string }): Promise<Destination[]> {
    const { rows } = await this.pool.query<DestinationRow>(
      `SELECT ${COLUMNS} FROM destinations
       WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR spec->'topics' ? $2)
       ORDER BY id LIMIT $3`,
      [q.after ?? null, q.topic ?? null, q.limit],
    );
    return rows.map(toDestination);
  }

  async updateDestination(
    id: string,
    patch: Partial<DestinationSpec>,
    now: Date,
    ifVersion?: number,
  ): Promise<Destination | null> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<DestinationRow>(
        `SELECT ${COLUMNS} FROM destinations WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const r = rows[0];
      if (!r || (ifVersion !== undefined && r.version !== ifVersion)) {
        await client.query('ROLLBACK');
        return null;
      }
      const spec = specJson(patched(specOf(r.spec), patch));
      const updated = await client.query<DestinationRow>(
        `UPDATE destinations SET spec = $2::jsonb, updated_at = $3, version = version + 1 WHERE id = $1
         RETURNING ${COLUMNS}`,
        [id, spec, now],
      );
      await client.query('COMMIT');
      return toDestination(updated.rows[0] as DestinationRow);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async setDestinationStatus(
    id: string,
    status: DestinationStatus,
    reason: string | null,
    now: Date,
  ): Promise<Destination | null> {
    const disabled = status === 'disabled';
    const { rows } = await this.pool.query<DestinationRow>(
      `UPDATE destinations SET status = $2, disabled_reason = $3, disabled_at = $4, updated_at = $5,
         version = version + 1
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, status, disabled ? reason : null, disabled ? now : null, now],
    );
    return rows[0] ? toDestination(rows[0]) : null;
  }

  async deleteDestination(id: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM destinations WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }
}
