import pg from 'pg';
import type { DeliveryAttempt, Message, MessageStatus, NewMessage } from '../../domain/message.js';
import { buildMessage } from '../../domain/message.js';
import { DEFAULT_DESTINATION_ID } from '../../domain/destination.js';
import { newId, webhookIdFor } from '../../domain/ids.js';
import type {
  ClaimedMessage,
  ClaimedTuple,
  CompleteAndClaim,
  CancelResult,
  ClaimRequest,
  Completion,
  CreateResult,
  ListQuery,
  MessageStore,
  NotApplied,
  Page,
  ResolveAction,
  ResolveResult,
} from '../store.js';
import {
  byClaimOrder,
  emptyCounts,
  GIVE_UP_PREFIX,
  FAIL_UNSENT_BATCH,
  inBatches,
  LEASE_LOST_ERROR,
  NODE_LOST_ERROR,
  notApplied,
  statusLiteral,
  toClaimed,
  toPage,
  DUE_RANGES,
  dueValue,
  openLanes,
} from '../store.js';
import { PostgresKeys } from './postgres-keys.js';
import { PostgresControl } from './postgres-control.js';
import { PostgresDestinations } from './postgres-destinations.js';
import { PostgresSchedules } from './postgres-schedules.js';
import { PostgresHealth } from './postgres-health.js';
import { PG_MIGRATIONS } from './migrations.js';
import { listedMessage, STATUS_SOURCES, type ListTuple } from '../sql-rows.js';
import { checkNewMessages, guardStore } from '../store-errors.js';
import { postgresErrorCode } from './postgres-errors.js';
import type { SignalingStore, SignalTransport } from '../signal-transport.js';
import { PostgresSignals } from './postgres-signals.js';
import {
  CLAIM_SQL,
  REFUSED_ID_COLUMN,
  CLAIM_SQL_BY_SHAPE,
  COMPLETE_AND_CLAIM_SQL_BY_SHAPE,
  COMPLETE_SQL,
  completionsJson,
  INSERT_COLUMNS,
  INSERT_SQL,
  LIST_SELECT,
  quoteIdent,
} from './postgres-sql.js';

export interface PostgresStoreOptions {
  connectionString: string;
  /** schema holding the tables (created if missing); default public */
  schema?: string;
  poolSize?: number;
}

const MIGRATION_LOCK = 0x6d736368; // "msch"

/**
 * The earliest due_at of the unsent messages meeting `cond`, as a scalar subquery: the priorities
 * they have (one index probe each, highest first), then the earliest of each.
 */
const earliestDue = (cond: string): string => `(WITH RECURSIVE p(pr) AS (
    SELECT max(priority) FROM messages WHERE status = 'unsent' AND ${cond}
    UNION ALL
    SELECT (SELECT max(priority) FROM messages WHERE status = 'unsent' AND ${cond} AND priority < p.pr)
    FROM p WHERE p.pr IS NOT NULL)
  SELECT min((SELECT min(due_at) FROM messages WHERE status = 'unsent' AND ${cond} AND priority = p.pr))
  FROM p WHERE p.pr IS NOT NULL)`;

/** `default`'s limit, within the total. */
const firstLimit = (req: ClaimRequest): number => Math.max(0, Math.min(req.limit, req.total ?? req.limit));

/** A claim's lanes as what the lanes shape binds (ids, limits, total); null when there is none to claim. */
function laneValues(req: ClaimRequest): [string[], number[], number] | null {
  const open = openLanes(req.lanes);
  if (open.length === 0) return null;
  const limits = open.map((l) => l.limit);
  const all = Math.max(0, req.limit) + limits.reduce((a, b) => a + b, 0);
  return [open.map((l) => l.destination), limits, Math.min(all, req.total ?? all)];
}

/** The destination and group filters of a list query, as conditions numbered after `params`. */
function filters(q: ListQuery, where: string[], params: unknown[]): void {
  if (q.destination === DEFAULT_DESTINATION_ID) where.push('destination_id IS NULL');
  else if (q.destination !== undefined) {
    params.push(q.destination);
    where.push(`destination_id = $${params.length}`);
  }
  if (q.group !== undefined) {
    params.push(q.group);
    where.push(`group_id = $${params.length}`);
  }
  if (q.recipient !== undefined) {
    params.push(q.recipient);
    where.push(`recipient_phone_number = $${params.length}`);
  }
}

/** Connections of the delivery lane: two claim rounds, an outcome flush and the cluster's own queries. */
const DELIVERY_CONNECTIONS = 4;

/** PostgreSQL store: claims with FOR UPDATE SKIP LOCKED, one round trip per batch. */
export class PostgresStore implements MessageStore, SignalingStore {
  readonly kind = 'postgres' as const;
  readonly embedded = false;
  /** the API's reads and writes */
  private readonly pool: pg.Pool;
  /**
   * The delivery loop's and the cluster's own connections (claims, outcomes, recovery,
   * heartbeats): under an API write flood their queries do not queue behind the API's
   * in the pool's wait list (docs/decisions.md, "Delivery keeps its own connections").
   */
  private readonly lane: pg.Pool;
  private readonly schema: string;
  readonly keys: PostgresKeys;
  readonly control: PostgresControl;
  readonly destinations: PostgresDestinations;
  readonly health: PostgresHealth;
  readonly schedules: PostgresSchedules;

  constructor(private readonly options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    const connection = {
      connectionString: options.connectionString,
      // The claim must walk messages_due in order and stop at LIMIT. With a large due backlog the
      // planner otherwise prefers a bitmap scan that sorts every due row on every claim. No JIT:
      // with sorts priced out, plans look expensive and JIT compiled every claim (~100 ms each).
      options: `-c search_path=${quoteIdent(this.schema)} -c enable_bitmapscan=off -c enable_sort=off -c enable_seqscan=off -c jit=off`,
      connectionTimeoutMillis: 10_000,
    };
    this.pool = new pg.Pool({ ...connection, max: options.poolSize ?? 10 });
    // The lane's statements are prepared (named) and shaped to one plan each (the settings above). On
    // a table with statistics, as autovacuum leaves every running server's, PostgreSQL judged the
    // generic plan dearer than the custom ones and planned the claim round afresh each time: about
    // 0.5 ms of server CPU a round, 15 µs a delivered message, for the same plan (docs/decisions.md,
    // "The delivery lane's statements keep their generic plan"). PostgreSQL 12 or newer.
    this.lane = new pg.Pool({
      ...connection,
      options: `${connection.options} -c plan_cache_mode=force_generic_plan`,
      max: DELIVERY_CONNECTIONS,
    });
    // an idle client that loses its server must not crash the process
    this.pool.on('error', () => undefined);
    this.lane.on('error', () => undefined);
    this.keys = guardStore(new PostgresKeys(this.pool), postgresErrorCode);
    this.control = guardStore(new PostgresControl(this.lane), postgresErrorCode);
    this.destinations = guardStore(new PostgresDestinations(this.pool), postgresErrorCode);
    this.health = guardStore(new PostgresHealth(this.pool), postgresErrorCode);
    this.schedules = guardStore(new PostgresSchedules(this.pool), postgresErrorCode);
    // every method's driver errors leave as StoreError (store-errors.ts)
    return guardStore(this, postgresErrorCode);
  }

  /** LISTEN/NOTIFY on this store's server, on a channel of its schema (its own connections) */
  signalTransport(): SignalTransport {
    return new PostgresSignals(this.options.connectionString, this.schema);
  }

  async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`);
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await client.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
        const done = new Set(rows.map((r) => r.version));
        for (const m of PG_MIGRATIONS) {
          if (done.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
              m.version,
              m.name,
            ]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw err;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      client.release();
    }
  }

  /** Drops the schema (tests). */
  async dropSchema(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(this.schema)} CASCADE`);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.lane.end()]);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async create(messages: NewMessage[], now: Date): Promise<CreateResult[]> {
    checkNewMessages(messages);
    if (messages.length === 0) return [];
    const built = messages.map((input) => {
      const id = newId(now.getTime());
      return buildMessage(input, id, webhookIdFor(id), now);
    });
    const columns = INSERT_COLUMNS.map(([c]) => built.map((m) => m[c]));
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const inserted = await client.query<Message>(INSERT_SQL, columns);
      const byId = new Map(inserted.rows.map((r) => [r.id, r]));
      const missingKeys = built.filter((m) => !byId.has(m.id)).map((m) => m.idempotency_key ?? '');
      const byKey = new Map<string, Message>();
      if (missingKeys.length > 0) {
        const existing = await client.query<Message>(
          'SELECT * FROM messages WHERE idempotency_key = ANY($1)',
          [missingKeys],
        );
        for (const r of existing.rows) byKey.set(r.idempotency_key ?? '', r);
      }
      await client.query('COMMIT');
      return built.map((m) => {
        const row = byId.get(m.id);
        if (row) return { message: row, created: true };
        const existing = byKey.get(m.idempotency_key ?? '');
        if (!existing) throw new Error('insert conflicted but no row holds the idempotency key');
        return { message: existing, created: false };
      });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async get(id: string): Promise<Message | null> {
    const { rows } = await this.pool.query<Message>('SELECT * FROM messages WHERE id = $1', [id]);
    return rows[0] ?? null;
  }

  async getByIdempotencyKey(key: string): Promise<Message | null> {
    const { rows } = await this.pool.query<Message>('SELECT * FROM messages WHERE idempotency_key = $1', [
      key,
    ]);
    return rows[0] ?? null;
  }

  async attempts(id: string): Promise<DeliveryAttempt[]> {
    const { rows } = await this.pool.query<DeliveryAttempt>(
      `SELECT message_id, attempt, started_at, latency_ms, status_code, error, outcome, destination_id, url, node
       FROM delivery_attempts WHERE message_id = $1 ORDER BY attempt, started_at`,
      [id],
    );
    return rows;
  }

  async list(q: ListQuery): Promise<Page> {
    if (q.order === 'due') return this.listDue(q);
    const where: string[] = [];
    const params: unknown[] = [];
    const sortCol = q.order === 'sent' ? 'sent_at' : 'created_at';
    const status = q.order === 'sent' ? 'sent' : q.status;
    // a literal (from the fixed list of statuses), so the planner can use the partial indexes
    if (status) where.push(`status = '${statusLiteral(status)}'`);
    filters(q, where, params);
    if (q.since) {
      params.push(q.since);
      where.push(`${sortCol} >= $${params.length}`);
    }
    if (q.after) {
      params.push(q.after.at, q.after.id);
      where.push(`(${sortCol}, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(q.limit + 1);
    // processing messages are few (in flight) and all in messages_lease: read them there first
    // (OFFSET 0 keeps the planner from walking messages_created past every other row) and sort
    const from =
      status === 'processing'
        ? `(SELECT * FROM messages WHERE status = 'processing' OFFSET 0) m`
        : 'messages';
    const { rows } = await this.pool.query<ListTuple>({
      text: `SELECT ${LIST_SELECT} FROM ${from} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY ${sortCol} DESC, id DESC LIMIT $${params.length}`,
      values: params,
      rowMode: 'array',
    });
    return toPage(rows.map(listedMessage), q);
  }

  /**
   * Unsent messages in delivery order: `default`'s from messages_due, one destination's from its range
   * of messages_lane, all of them as the merge of messages_due and messages_due_routed; from each, one
   * limited seek per range after the cursor.
   */
  private async listDue(q: ListQuery): Promise<Page> {
    const order = 'ORDER BY priority DESC, due_at, created_at, id';
    const params: unknown[] = [q.limit + 1];
    const fw: string[] = [];
    filters(q, fw, params);
    const sides =
      q.destination === undefined ? ['destination_id IS NULL', 'destination_id IS NOT NULL'] : [''];
    const after = q.after;
    const parts: string[] = [];
    for (const side of sides) {
      const conds = side ? [...fw, side] : fw;
      const base = `SELECT ${LIST_SELECT} FROM messages WHERE status = 'unsent'${conds.map((w) => ` AND ${w}`).join('')}`;
      if (!after) {
        parts.push(`(${base} ${order} LIMIT $1)`);
        continue;
      }
      for (const r of DUE_RANGES) {
        const c = r.eq.map((k) => (params.push(dueValue(after, k)), `${k} = $${params.length}`));
        params.push(dueValue(after, r.next));
        c.push(`${r.next} ${r.next === 'priority' ? '<' : '>'} $${params.length}`);
        parts.push(`(${base} AND ${c.join(' AND ')} ${order} LIMIT $1)`);
      }
    }
    // the union's times are the epoch aliases, in the same order
    const sql =
      parts.length === 1
        ? (parts[0] ?? '').slice(1, -1)
        : `SELECT * FROM (${parts.join(' UNION ALL ')}) d ORDER BY priority DESC, due_ms, created_ms, id LIMIT $1`;
    const { rows } = await this.pool.query<ListTuple>({ text: sql, values: params, rowMode: 'array' });
    return toPage(rows.map(listedMessage), q);
  }

  async cancel(id: string, now: Date): Promise<CancelResult> {
    const { rows } = await this.pool.query<Message>(
      `UPDATE messages SET status = 'cancelled', updated_at = $2 WHERE id = $1 AND status = 'unsent' RETURNING *`,
      [id, now],
    );
    const row = rows[0];
    if (row) return { result: 'cancelled', message: row };
    return this.notApplied(id);
  }

  /** Why a conditional update by id matched nothing. */
  private async notApplied(id: string): Promise<NotApplied> {
    const { rows } = await this.pool.query<{ status: MessageStatus }>(
      'SELECT status FROM messages WHERE id = $1',
      [id],
    );
    return notApplied(rows[0]?.status);
  }

  async failUnsent(
    destination: string,
    reason: string,
    now: Date,
    batch = FAIL_UNSENT_BATCH,
  ): Promise<number> {
    if (destination === DEFAULT_DESTINATION_ID) return 0;
    return inBatches(batch, async () => {
      const res = await this.pool.query(
        `UPDATE messages SET status = 'failed', updated_at = $1, last_error = $2
         WHERE id = ANY (ARRAY(SELECT id FROM messages WHERE status = 'unsent' AND destination_id = $3
                              LIMIT $4 FOR UPDATE SKIP LOCKED))`,
        [now, reason, destination, batch],
      );
      return res.rowCount ?? 0;
    });
  }

  async claim(req: ClaimRequest): Promise<ClaimedMessage[]> {
    const lanes = laneValues(req);
    if (req.limit <= 0 && !lanes) return [];
    // named: prepared once per connection, so the hot path skips planning
    const lease = new Date(req.now.getTime() + req.leaseMs);
    const { rows } = await this.lane.query<ClaimedTuple>({
      name: lanes ? 'ms_claim_lanes' : 'ms_claim',
      text: CLAIM_SQL_BY_SHAPE[lanes ? 'lanes' : 'default'],
      values: [req.owner, req.now, lease, firstLimit(req), ...(lanes ?? []), req.dueBy ?? req.now],
      rowMode: 'array',
    });
    return rows.map((r) => toClaimed(r, lease)).sort(byClaimOrder);
  }

  async completeAndClaim(
    completions: Completion[],
    claim: ClaimRequest,
    now: Date,
  ): Promise<CompleteAndClaim> {
    const lanes = laneValues(claim);
    if (claim.limit <= 0 && !lanes) return { applied: await this.complete(completions, now), claimed: [] };
    const lease = new Date(claim.now.getTime() + claim.leaseMs);
    // a claimed message's columns, then refused_id: null, or all nulls but refused_id
    const { rows } = await this.lane.query<ClaimedTuple>({
      name: lanes ? 'ms_complete_claim_lanes' : 'ms_complete_claim',
      text: COMPLETE_AND_CLAIM_SQL_BY_SHAPE[lanes ? 'lanes' : 'default'],
      values: [
        completionsJson(completions),
        claim.now,
        claim.owner,
        lease,
        firstLimit(claim),
        ...(lanes ?? []),
        claim.dueBy ?? claim.now,
      ],
      rowMode: 'array',
    });
    let refused: Set<string> | null = null;
    const claimed: ClaimedMessage[] = [];
    for (const row of rows) {
      const refusedId = row[REFUSED_ID_COLUMN];
      if (typeof refusedId === 'string') (refused ??= new Set()).add(refusedId);
      else claimed.push(toClaimed(row, lease));
    }
    const ids = completions.map((c) => c.id);
    const applied = refused ? ids.filter((id) => !refused.has(id)) : ids;
    return { applied, claimed: claimed.sort(byClaimOrder) };
  }

  async complete(completions: Completion[], now: Date): Promise<string[]> {
    if (completions.length === 0) return [];
    const { rows } = await this.lane.query<{ id: string }>({
      name: 'ms_complete',
      text: COMPLETE_SQL,
      values: [completionsJson(completions), now],
    });
    return rows.map((r) => r.id);
  }

  async recoverExpired(now: Date, to: 'unsent' | 'unknown' = 'unsent'): Promise<number> {
    const res = await this.lane.query(
      `UPDATE messages SET status = $2, lease_owner = NULL, lease_expires_at = NULL,
         processing_started_at = NULL, updated_at = $1, last_error = COALESCE($3, last_error)
       WHERE status = 'processing' AND lease_expires_at < $1`,
      [now, to, to === 'unknown' ? LEASE_LOST_ERROR : null],
    );
    return res.rowCount ?? 0;
  }

  async recoverOwners(
    owners: readonly string[],
    now: Date,
    to: 'unsent' | 'unknown' = 'unsent',
  ): Promise<number> {
    if (owners.length === 0) return 0;
    const res = await this.lane.query(
      `UPDATE messages SET status = $2, lease_owner = NULL, lease_expires_at = NULL,
         processing_started_at = NULL, updated_at = $1, last_error = COALESCE($3, last_error)
       WHERE status = 'processing' AND lease_owner = ANY($4)`,
      [now, to, to === 'unknown' ? NODE_LOST_ERROR : null, owners],
    );
    return res.rowCount ?? 0;
  }

  async resolve(id: string, action: ResolveAction, now: Date): Promise<ResolveResult> {
    const { rows } = await this.pool.query<Message>(
      action === 'retry'
        ? `UPDATE messages SET status = 'unsent', due_at = $2, updated_at = $2
           WHERE id = $1 AND status IN ('unknown', 'failed') RETURNING *`
        : `UPDATE messages SET status = 'failed', updated_at = $2,
             last_error = $3 || COALESCE(': ' || last_error, '')
           WHERE id = $1 AND status = 'unknown' RETURNING *`,
      action === 'retry' ? [id, now] : [id, now, GIVE_UP_PREFIX],
    );
    const row = rows[0];
    if (row) return { result: 'done', message: row };
    return this.notApplied(id);
  }

  async releaseOwned(owner: string, keep: string[], now: Date): Promise<number> {
    const res = await this.lane.query(
      `UPDATE messages SET status = 'unsent', lease_owner = NULL, lease_expires_at = NULL,
         processing_started_at = NULL, updated_at = $3
       WHERE status = 'processing' AND lease_owner = $1 AND NOT (id = ANY($2))`,
      [owner, keep, now],
    );
    return res.rowCount ?? 0;
  }

  async release(owner: string, ids: string[], now: Date): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.lane.query(
      `UPDATE messages SET status = 'unsent', lease_owner = NULL, lease_expires_at = NULL,
         processing_started_at = NULL, updated_at = $3
       WHERE id = ANY($1) AND status = 'processing' AND lease_owner = $2`,
      [ids, owner, now],
    );
    return res.rowCount ?? 0;
  }

  /** The query plan of the claim (benchmarks show that it stays on the partial index). */
  async explainClaim(): Promise<string> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF) ${CLAIM_SQL}`,
        ['explain', new Date(), new Date(Date.now() + 60_000), 64, new Date()],
      );
      await client.query('ROLLBACK');
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      client.release();
    }
  }

  async nextDueAt(): Promise<Date | null> {
    const { rows } = await this.lane.query<{ due: Date | null }>(
      `SELECT least(${earliestDue('destination_id IS NULL')}, ${earliestDue('destination_id IS NOT NULL')}) AS due`,
    );
    return rows[0]?.due ?? null;
  }

  async nextDueOf(destinations: readonly string[]): Promise<Map<string, Date>> {
    const ids = destinations.filter((d) => d !== DEFAULT_DESTINATION_ID);
    const { rows } = await this.lane.query<{ d: string; due: Date | null }>({
      name: 'ms_next_due_of',
      // per destination, one probe per priority of its range of messages_lane
      text: `SELECT u.d, ${earliestDue('destination_id = u.d')} AS due FROM unnest($1::text[]) AS u(d)
             UNION ALL
             SELECT 'default', CASE WHEN $2 THEN ${earliestDue('destination_id IS NULL')} END`,
      values: [ids, ids.length < destinations.length],
    });
    const out = new Map<string, Date>();
    for (const r of rows) if (r.due) out.set(r.d, r.due);
    return out;
  }

  async countByStatus(cap?: number): Promise<Record<MessageStatus, number>> {
    const counts = emptyCounts();
    if (cap !== undefined) {
      // one statement: each status counted to cap + 1 from its partial index (STATUS_SOURCES)
      const parts = Object.entries(STATUS_SOURCES).flatMap(([status, sources]) =>
        sources.map(
          (src) =>
            `SELECT '${statusLiteral(status as MessageStatus)}' AS status, count(*) AS n FROM (SELECT 1 FROM messages
               WHERE status = '${statusLiteral(status as MessageStatus)}'${src.where ? ` AND ${src.where}` : ''} LIMIT $1) s`,
        ),
      );
      const { rows } = await this.pool.query<{ status: MessageStatus; n: string }>(
        parts.join(' UNION ALL '),
        [cap + 1],
      );
      for (const r of rows) counts[r.status] = Math.min(cap + 1, counts[r.status] + Number(r.n));
      return counts;
    }
    const { rows } = await this.pool.query<{ status: MessageStatus; n: string }>(
      'SELECT status, count(*) AS n FROM messages GROUP BY status',
    );
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }
}
