import { withPgClient } from './targets.js';

/**
 * What PostgreSQL did, from its own statistics (issue 27, "count what costs"): transactions committed,
 * WAL records, full-page images, bytes, writes and flushes (`pg_stat_wal`), rows written, and the
 * statements executed (`pg_stat_statements`, when the server preloads it: the benchmark's own server
 * does). Read before and after a delivery run; the difference divided by the messages delivered is
 * its cost per message. The whole server is counted: run nothing else on it meanwhile.
 */
export interface PgCounters {
  commits: number;
  rollbacks: number;
  rowsWritten: number;
  walRecords: number;
  walFpi: number;
  walBytes: number;
  walWrites: number;
  walSyncs: number;
  /** null: pg_stat_statements is not loaded */
  statements: number | null;
}

export function pgCounters(url: string): Promise<PgCounters> {
  return withPgClient(url, async (c) => {
    // other backends publish their counters when idle, at most once a second (PostgreSQL 15)
    await new Promise((r) => setTimeout(r, 1500));
    const db = (
      await c.query<Record<string, string>>(
        `SELECT sum(xact_commit) AS commits, sum(xact_rollback) AS rollbacks,
                sum(tup_inserted + tup_updated + tup_deleted) AS rows FROM pg_stat_database`,
      )
    ).rows[0];
    const wal = (
      await c.query<Record<string, string>>(
        'SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal',
      )
    ).rows[0];
    let statements: number | null = null;
    try {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      statements = Number(
        (await c.query<{ n: string }>('SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements')).rows[0]
          ?.n ?? NaN,
      );
    } catch {
      statements = null; // not in shared_preload_libraries
    }
    const n = (x: string | undefined) => Number(x ?? NaN);
    return {
      commits: n(db?.commits),
      rollbacks: n(db?.rollbacks),
      rowsWritten: n(db?.rows),
      walRecords: n(wal?.wal_records),
      walFpi: n(wal?.wal_fpi),
      walBytes: n(wal?.wal_bytes),
      walWrites: n(wal?.wal_write),
      walSyncs: n(wal?.wal_sync),
      statements,
    };
  });
}

/** The counters' growth per delivered message. */
export function perMessage(
  before: PgCounters,
  after: PgCounters,
  n: number,
): Record<keyof PgCounters, number | null> {
  const out = {} as Record<keyof PgCounters, number | null>;
  for (const k of Object.keys(before) as (keyof PgCounters)[]) {
    const a = after[k];
    const b = before[k];
    out[k] = a === null || b === null ? null : (a - b) / n;
  }
  return out;
}
