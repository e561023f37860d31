import type Database from 'better-sqlite3';
import type {
  AttemptStats,
  Circuit,
  CircuitFields,
  CircuitState,
  DestinationHealthStore,
} from '../destination-health-store.js';

interface CircuitRow {
  destination_id: string;
  state: CircuitState;
  opened_at: number | null;
  until: number | null;
  probe_owner: string | null;
  failing_since: number | null;
  rev: number;
  updated_at: number;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

const toCircuit = (r: CircuitRow): Circuit => ({
  destination_id: r.destination_id,
  state: r.state,
  opened_at: date(r.opened_at),
  until: date(r.until),
  probe_owner: r.probe_owner,
  failing_since: date(r.failing_since),
  rev: r.rev,
  updated_at: new Date(r.updated_at),
});

/** Circuits in their table (migration 11); health figures from the attempts and the lanes' index. */
export class SqliteHealth implements DestinationHealthStore {
  constructor(private readonly db: () => Database.Database) {}

  async listCircuits(): Promise<Circuit[]> {
    return this.db()
      .prepare<[], CircuitRow>('SELECT * FROM destination_circuits ORDER BY destination_id')
      .all()
      .map(toCircuit);
  }

  async getCircuit(id: string): Promise<Circuit | null> {
    const r = this.db()
      .prepare<[string], CircuitRow>('SELECT * FROM destination_circuits WHERE destination_id = ?')
      .get(id);
    return r ? toCircuit(r) : null;
  }

  async setCircuit(id: string, rev: number, next: CircuitFields, now: Date): Promise<Circuit | null> {
    const row: CircuitRow = {
      destination_id: id,
      state: next.state,
      opened_at: ms(next.opened_at),
      until: ms(next.until),
      probe_owner: next.probe_owner,
      failing_since: ms(next.failing_since),
      rev: rev + 1,
      updated_at: now.getTime(),
    };
    const changed =
      rev === 0
        ? this.db()
            .prepare(
              `INSERT OR IGNORE INTO destination_circuits
                 (destination_id, state, opened_at, until, probe_owner, failing_since, rev, updated_at)
               VALUES (@destination_id, @state, @opened_at, @until, @probe_owner, @failing_since, @rev, @updated_at)`,
            )
            .run(row).changes
        : this.db()
            .prepare(
              `UPDATE destination_circuits SET state = @state, opened_at = @opened_at, until = @until,
                 probe_owner = @probe_owner, failing_since = @failing_since, rev = @rev, updated_at = @updated_at
               WHERE destination_id = @destination_id AND rev = @rev - 1`,
            )
            .run(row).changes;
    return changed === 1 ? toCircuit(row) : null;
  }

  async deleteCircuit(id: string): Promise<void> {
    this.db().prepare('DELETE FROM destination_circuits WHERE destination_id = ?').run(id);
  }

  async attemptStats(id: string, since: Date): Promise<AttemptStats> {
    const r = this.db()
      .prepare<
        { id: string; since: number },
        { successes: number; failures: number; last_success: number | null; last_failure: number | null }
      >(
        `SELECT
           (SELECT count(*) FROM delivery_attempts INDEXED BY delivery_attempts_destination
              WHERE destination_id = @id AND outcome = 'sent' AND started_at >= @since) AS successes,
           (SELECT count(*) FROM delivery_attempts INDEXED BY delivery_attempts_destination
              WHERE destination_id = @id AND outcome <> 'sent' AND started_at >= @since) AS failures,
           (SELECT max(started_at) FROM delivery_attempts INDEXED BY delivery_attempts_destination
              WHERE destination_id = @id AND outcome = 'sent') AS last_success,
           (SELECT max(started_at) FROM delivery_attempts INDEXED BY delivery_attempts_destination
              WHERE destination_id = @id AND outcome <> 'sent') AS last_failure`,
      )
      .get({ id, since: since.getTime() });
    return {
      successes: r?.successes ?? 0,
      failures: r?.failures ?? 0,
      last_success_at: date(r?.last_success ?? null),
      last_failure_at: date(r?.last_failure ?? null),
    };
  }

  async inFlight(id: string): Promise<number> {
    const r = this.db()
      .prepare<[string], { n: number }>(
        `SELECT count(*) AS n FROM messages INDEXED BY messages_lease
         WHERE status = 'processing' AND destination_id = ?`,
      )
      .get(id);
    return r?.n ?? 0;
  }

  async dueBacklog(id: string, now: Date): Promise<number> {
    const r = this.db()
      .prepare<{ id: string; now: number }, { n: number }>(
        `SELECT count(*) AS n FROM messages INDEXED BY messages_lane
         WHERE status = 'unsent' AND destination_id = @id AND due_at <= @now`,
      )
      .get({ id, now: now.getTime() });
    return r?.n ?? 0;
  }
}
