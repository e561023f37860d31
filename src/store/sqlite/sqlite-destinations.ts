import type Database from 'better-sqlite3';
import type { Destination, DestinationSpec, DestinationStatus } from '../../domain/destination.js';
import { patched, specJson, specOf, type DestinationStore } from '../destination-store.js';

interface DestinationRow {
  id: string;
  spec: string;
  status: DestinationStatus;
  disabled_reason: string | null;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
  version: number;
}

const toDestination = (r: DestinationRow): Destination => ({
  id: r.id,
  ...specOf(r.spec),
  status: r.status,
  disabled_reason: r.disabled_reason,
  disabled_at: r.disabled_at === null ? null : new Date(r.disabled_at),
  created_at: new Date(r.created_at),
  updated_at: new Date(r.updated_at),
  version: r.version,
});

/** The destinations table of the SQLite file (migration 8): the spec as JSON, the state in columns. */
export class SqliteDestinations implements DestinationStore {
  constructor(private readonly db: () => Database.Database) {}

  private row(id: string): DestinationRow | undefined {
    return this.db().prepare<[string], DestinationRow>('SELECT * FROM destinations WHERE id = ?').get(id);
  }

  async createDestination(id: string, spec: DestinationSpec, now: Date): Promise<Destination> {
    const row: DestinationRow = {
      id,
      spec: specJson(spec),
      status: 'active',
      disabled_reason: null,
      disabled_at: null,
      created_at: now.getTime(),
      updated_at: now.getTime(),
      version: 1,
    };
    this.db()
      .prepare(
        `INSERT INTO destinations (id, spec, status, disabled_reason, disabled_at, created_at, updated_at, version)
         VALUES (@id, @spec, @status, @disabled_reason, @disabled_at, @created_at, @updated_at, @version)`,
      )
      .run(row);
    return toDestination(row);
  }

  async getDestination(id: string): Promise<Destination | null> {
    const r = this.row(id);
    return r ? toDestination(r) : null;
  }

  async listDestinations(q: { after?: string; limit: number; topic?: string }): Promise<Destination[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.after !== undefined) {
      where.push('id > ?');
      params.push(q.after);
    }
    if (q.topic !== undefined) {
      where.push("EXISTS (SELECT 1 FROM json_each(spec, '$.topics') WHERE value = ?)");
      params.push(q.topic);
    }
    const sql = `SELECT * FROM destinations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    return this.db()
      .prepare<(string | number)[], DestinationRow>(sql)
      .all(...params, q.limit)
      .map(toDestination);
  }

  async updateDestination(
    id: string,
    patch: Partial<DestinationSpec>,
    now: Date,
    ifVersion?: number,
  ): Promise<Destination | null> {
    const db = this.db();
    return db.transaction((): Destination | null => {
      const r = this.row(id);
      if (!r || (ifVersion !== undefined && r.version !== ifVersion)) return null;
      const spec = specJson(patched(specOf(r.spec), patch));
      db.prepare('UPDATE destinations SET spec = ?, updated_at = ?, version = version + 1 WHERE id = ?').run(
        spec,
        now.getTime(),
        id,
      );
      return toDestination({ ...r, spec, updated_at: now.getTime(), version: r.version + 1 });
    })();
  }

  async setDestinationStatus(
    id: string,
    status: DestinationStatus,
    reason: string | null,
    now: Date,
  ): Promise<Destination | null> {
    const disabled = status === 'disabled';
    this.db()
      .prepare(
        `UPDATE destinations SET status = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?, version = version + 1
         WHERE id = ?`,
      )
      .run(status, disabled ? reason : null, disabled ? now.getTime() : null, now.getTime(), id);
    return this.getDestination(id);
  }

  async deleteDestination(id: string): Promise<boolean> {
    return this.db().prepare('DELETE FROM destinations WHERE id = ?').run(id).changes > 0;
  }
}
