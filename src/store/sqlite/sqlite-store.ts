import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { checkNewMessages, guardStore, toStoreError } from '../store-errors.js';
import { sqliteErrorCode } from './sqlite-errors.js';
import type { DeliveryAttempt, Message, MessageStatus, NewMessage } from '../../domain/message.js';
import { buildMessage, MESSAGE_STATUSES } from '../../domain/message.js';
import { DEFAULT_DESTINATION_ID } from '../../domain/destination.js';
import { newId, webhookIdFor } from '../../domain/ids.js';
import type {
  CancelResult,
  ClaimedMessage,
  ClaimedTuple,
  ClaimRequest,
  CompleteAndClaim,
  Completion,
  CreateResult,
  ListQuery,
  MessageStore,
  Page,
  ResolveAction,
  ResolveResult,
} from '../store.js';
import {
  byClaimOrder,
  emptyCounts,
  errorOf,
  GIVE_UP_PREFIX,
  FAIL_UNSENT_BATCH,
  inBatches,
  LEASE_LOST_ERROR,
  NODE_LOST_ERROR,
  notApplied,
  statusLiteral,
  statusOf,
  toClaimed,
  toPage,
  DUE_RANGES,
  dueValue,
  openLanes,
} from '../store.js';
import { SQLITE_MIGRATIONS } from './schema.js';
import { listedMessage, MESSAGE_COLUMNS, STATUS_SOURCES, type ListTuple } from '../sql-rows.js';

const LIST_SELECT = MESSAGE_COLUMNS.join(', ');
import { SqliteKeys } from './sqlite-keys.js';
import { SqliteControl } from './sqlite-control.js';
import { SqliteDestinations } from './sqlite-destinations.js';
import { SqliteHealth } from './sqlite-health.js';
import { SqliteSchedules } from './sqlite-schedules.js';
import {
  type Row,
  type AttemptRow,
  toMessage,
  toRow,
  CLAIM_SQL,
  lanesClaimSql,
  lanesClaimParams,
  LANES_PER_STATEMENT,
  PRIORITIES_CTE,
  earliestDueSql,
  type ClaimParams,
} from './sqlite-rows.js';

export interface SqliteStoreOptions {
  /** file path, or ':memory:' */
  path: string;
}

/** The embedded default store: better-sqlite3 in WAL mode. */
export class SqliteStore implements MessageStore {
  readonly kind = 'sqlite' as const;
  readonly embedded = true;
  private readonly db: Database.Database;
  readonly keys = guardStore(new SqliteKeys(() => this.db), sqliteErrorCode);
  readonly control = guardStore(new SqliteControl(() => this.db), sqliteErrorCode);
  readonly destinations = guardStore(new SqliteDestinations(() => this.db), sqliteErrorCode);
  readonly health = guardStore(new SqliteHealth(() => this.db), sqliteErrorCode);
  readonly schedules = guardStore(new SqliteSchedules(() => this.db), sqliteErrorCode);
  private stmts!: ReturnType<SqliteStore['prepare']>;
  /** list statements by their SQL: a bounded set of shapes (listSql inlines only status literals) */
  private readonly listStatements = new Map<string, Database.Statement<(string | number)[], ListTuple>>();
  /** the lanes' claim statements by their number of lanes */
  private readonly laneClaims = new Map<number, Database.Statement<(string | number)[], ClaimedTuple>>();

  constructor(options: SqliteStoreOptions) {
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.db = new Database(options.path);
    } catch (err) {
      throw toStoreError(err, sqliteErrorCode);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // a 16 MiB page cache (default 2 MiB) keeps the claim path's index pages; no mmap, whose
    // mapped pages would count against the service's memory as the file grows
    this.db.pragma('cache_size = -16384');
    // every method's driver errors leave as StoreError (store-errors.ts)
    return guardStore(this, sqliteErrorCode);
  }

  async init(): Promise<void> {
    const applied = this.db.pragma('user_version', { simple: true }) as number;
    const migrate = this.db.transaction(() => {
      for (let v = applied; v < SQLITE_MIGRATIONS.length; v++) {
        this.db.exec(SQLITE_MIGRATIONS[v] ?? '');
        this.db.pragma(`user_version = ${v + 1}`);
      }
    });
    migrate.immediate();
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare<Row, Row>(
        `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map((c) => '@' + c).join(', ')})
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
      ),
      byKey: db.prepare<[string], Row>('SELECT * FROM messages WHERE idempotency_key = ?'),
      byId: db.prepare<[string], Row>('SELECT * FROM messages WHERE id = ?'),
      attempts: db.prepare<[string], AttemptRow>(
        'SELECT * FROM delivery_attempts WHERE message_id = ? ORDER BY attempt, started_at',
      ),
      cancel: db.prepare<[number, string], Row>(
        `UPDATE messages SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'unsent' RETURNING *`,
      ),
      statusOf: db.prepare<[string], { status: MessageStatus }>('SELECT status FROM messages WHERE id = ?'),
      // rows as arrays: better-sqlite3 builds no object with named keys per claimed message
      claim: db.prepare<ClaimParams, ClaimedTuple>(CLAIM_SQL).raw(true),
      failUnsent: db.prepare<[number, string, string, number]>(
        `UPDATE messages SET status = 'failed', updated_at = ?, last_error = ?
         WHERE rowid IN (SELECT rowid FROM messages INDEXED BY messages_lane
                         WHERE status = 'unsent' AND destination_id = ? LIMIT ?)`,
      ),
      priorities: db.prepare<[], { pr: number }>(`${PRIORITIES_CTE} SELECT pr FROM p WHERE pr IS NOT NULL`),
      // positional parameters on the two per-message statements: binding by name looks up every
      // key of an object, and these run once per delivered message
      completeOne: db.prepare<
        [
          status: MessageStatus,
          now: number,
          sentAt: number | null,
          resp: string | null,
          error: string | null,
          dueAt: number | null,
          inc: number,
          id: string,
          owner: string,
        ],
        unknown
      >(
        `UPDATE messages SET status = ?, updated_at = ?,
           sent_at = COALESCE(?, sent_at),
           webhook_response_message_id = COALESCE(?, webhook_response_message_id),
           last_error = ?, due_at = COALESCE(?, due_at), attempts = attempts + ?,
           lease_owner = NULL, lease_expires_at = NULL, processing_started_at = NULL
         WHERE id = ? AND status = 'processing' AND lease_owner = ?`,
      ),
      insertAttempt: db.prepare<
        [
          messageId: string,
          attempt: number,
          startedAt: number,
          latencyMs: number,
          statusCode: number | null,
          error: string | null,
          outcome: DeliveryAttempt['outcome'],
          destinationId: string | null,
          url: string | null,
          node: string,
        ]
      >(
        `INSERT OR IGNORE INTO delivery_attempts (message_id, attempt, started_at, latency_ms, status_code, error, outcome,
           destination_id, url, node)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      recover: db.prepare<{ now: number; to: string; error: string | null }>(
        `UPDATE messages SET status = @to, lease_owner = NULL, lease_expires_at = NULL,
           processing_started_at = NULL, updated_at = @now, last_error = COALESCE(@error, last_error)
         WHERE id IN (SELECT id FROM messages INDEXED BY messages_lease
                      WHERE status = 'processing' AND lease_expires_at < @now)`,
      ),
      retry: db.prepare<{ id: string; now: number }, Row>(
        `UPDATE messages SET status = 'unsent', due_at = @now, updated_at = @now
         WHERE id = @id AND status IN ('unknown', 'failed') RETURNING *`,
      ),
      giveUp: db.prepare<{ id: string; now: number; prefix: string }, Row>(
        `UPDATE messages SET status = 'failed', updated_at = @now,
           last_error = @prefix || COALESCE(': ' || last_error, '')
         WHERE id = @id AND status = 'unknown' RETURNING *`,
      ),
      releaseOwned: db.prepare<[number, string, string]>(
        `UPDATE messages SET status = 'unsent', lease_owner = NULL, lease_expires_at = NULL,
           processing_started_at = NULL, updated_at = ?
         WHERE id IN (SELECT id FROM messages INDEXED BY messages_lease WHERE status = 'processing')
           AND lease_owner = ? AND id NOT IN (SELECT value FROM json_each(?))`,
      ),
      release: db.prepare<[number, string, string]>(
        `UPDATE messages SET status = 'unsent', lease_owner = NULL, lease_expires_at = NULL,
           processing_started_at = NULL, updated_at = ?
         WHERE id = ? AND status = 'processing' AND lease_owner = ?`,
      ),
      // the earliest due_at: `default`'s, the destinations', one destination's
      nextDue: db.prepare<[], { due: number | null }>(
        earliestDueSql('messages_due', 'destination_id IS NULL'),
      ),
      nextDueRouted: db.prepare<[], { due: number | null }>(
        earliestDueSql('messages_due_routed', 'destination_id IS NOT NULL'),
      ),
      nextDueLane: db.prepare<{ destination: string }, { due: number | null }>(
        earliestDueSql('messages_lane', 'destination_id = @destination'),
      ),
      counts: db.prepare<[], { status: MessageStatus; n: number }>(
        'SELECT status, COUNT(*) AS n FROM messages GROUP BY status',
      ),
      // transactions made once: better-sqlite3 builds a wrapper per db.transaction() call
      complete: db.transaction((completions: Completion[], now: Date) => this.completeRows(completions, now)),
      // one write transaction, so one WAL commit, for both: a commit costs as much as ~5 row updates
      completeAndClaim: db.transaction(
        (completions: Completion[], claim: ClaimRequest, now: Date): CompleteAndClaim => ({
          applied: this.completeRows(completions, now),
          claimed: this.claimRows(claim),
        }),
      ),
    };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async create(messages: NewMessage[], now: Date): Promise<CreateResult[]> {
    checkNewMessages(messages);
    const run = this.db.transaction((inputs: NewMessage[]) =>
      inputs.map((input): CreateResult => {
        const id = newId(now.getTime());
        const row = this.stmts.insert.get(toRow(buildMessage(input, id, webhookIdFor(id), now)));
        if (row) return { message: toMessage(row), created: true };
        const existing = this.stmts.byKey.get(input.idempotency_key ?? '');
        if (!existing) throw new Error('insert conflicted but no row holds the idempotency key');
        return { message: toMessage(existing), created: false };
      }),
    );
    return run.immediate(messages);
  }

  async get(id: string): Promise<Message | null> {
    const row = this.stmts.byId.get(id);
    return row ? toMessage(row) : null;
  }

  async getByIdempotencyKey(key: string): Promise<Message | null> {
    const row = this.stmts.byKey.get(key);
    return row ? toMessage(row) : null;
  }

  async attempts(id: string): Promise<DeliveryAttempt[]> {
    return this.stmts.attempts.all(id).map((a) => ({ ...a, started_at: new Date(a.started_at) }));
  }

  /** The statement and parameters of a list query (also what explainList reads). */
  private listSql(q: ListQuery): { sql: string; params: (string | number)[] } {
    if (q.order === 'due') return this.dueSql(q);
    const where: string[] = [];
    const params: (string | number)[] = [];
    const sortCol = q.order === 'sent' ? 'sent_at' : 'created_at';
    const status = q.order === 'sent' ? 'sent' : q.status;
    // a literal (from the fixed list of statuses), so the planner can use the partial indexes
    if (status) where.push(`status = '${statusLiteral(status)}'`);
    this.filters(q, where, params);
    if (q.since) {
      where.push(`${sortCol} >= ?`);
      params.push(q.since.getTime());
    }
    if (q.after) {
      where.push(`(${sortCol} < ? OR (${sortCol} = ? AND id < ?))`);
      params.push(q.after.at.getTime(), q.after.at.getTime(), q.after.id);
    }
    // processing messages are few (in flight) and all in messages_lease: read them there and sort,
    // rather than walk messages_created past every other row
    // one recipient's messages: from messages_recipient (the planner, without statistics, could
    // walk messages_created instead)
    const from =
      status === 'processing'
        ? 'messages INDEXED BY messages_lease'
        : q.recipient !== undefined
          ? 'messages INDEXED BY messages_recipient'
          : 'messages';
    const sql = `SELECT ${LIST_SELECT} FROM ${from} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
                 ORDER BY ${sortCol} DESC, id DESC LIMIT ?`;
    params.push(q.limit + 1);
    return { sql, params };
  }

  /** The destination and group filters of a list query, as conditions with their parameters. */
  private filters(q: ListQuery, where: string[], params: (string | number)[]): void {
    if (q.destination === DEFAULT_DESTINATION_ID) where.push('destination_id IS NULL');
    else if (q.destination !== undefined) {
      where.push('destination_id = ?');
      params.push(q.destination);
    }
    if (q.group !== undefined) {
      where.push('group_id = ?');
      params.push(q.group);
    }
    if (q.recipient !== undefined) {
      where.push('recipient_phone_number = ?');
      params.push(q.recipient);
    }
  }

  /**
   * Unsent messages in delivery order: `default`'s from messages_due, one destination's from its
   * range of messages_lane, all of them as the merge of messages_due and messages_due_routed; from
   * each, one limited seek per range after the cursor.
   */
  private dueSql(q: ListQuery): { sql: string; params: (string | number)[] } {
    const order = 'ORDER BY priority DESC, due_at, created_at, id';
    const n = q.limit + 1;
    const group =
      (q.group === undefined ? '' : ' AND group_id = ?') +
      (q.recipient === undefined ? '' : ' AND recipient_phone_number = ?');
    const gp = [
      ...(q.group === undefined ? [] : [q.group]),
      ...(q.recipient === undefined ? [] : [q.recipient]),
    ];
    const sources: { from: string; where: string; params: (string | number)[] }[] =
      q.destination === DEFAULT_DESTINATION_ID
        ? [{ from: 'messages_due', where: 'destination_id IS NULL', params: [] }]
        : q.destination !== undefined
          ? [{ from: 'messages_lane', where: 'destination_id = ?', params: [q.destination] }]
          : [
              { from: 'messages_due', where: 'destination_id IS NULL', params: [] },
              { from: 'messages_due_routed', where: 'destination_id IS NOT NULL', params: [] },
            ];
    const after = q.after;
    const v = (k: Parameters<typeof dueValue>[1]): string | number => {
      const x = dueValue(after as NonNullable<typeof after>, k);
      return x instanceof Date ? x.getTime() : x;
    };
    const params: (string | number)[] = [];
    const parts: string[] = [];
    for (const src of sources) {
      const base = `SELECT ${LIST_SELECT} FROM messages INDEXED BY ${src.from} WHERE status = 'unsent' AND ${src.where}${group}`;
      if (!after) {
        params.push(...src.params, ...gp, n);
        parts.push(`SELECT * FROM (${base} ${order} LIMIT ?)`);
        continue;
      }
      for (const r of DUE_RANGES) {
        params.push(...src.params, ...gp);
        const conds = r.eq.map((k) => (params.push(v(k)), `${k} = ?`));
        params.push(v(r.next));
        conds.push(`${r.next} ${r.next === 'priority' ? '<' : '>'} ?`);
        params.push(n);
        parts.push(`SELECT * FROM (${base} AND ${conds.join(' AND ')} ${order} LIMIT ?)`);
      }
    }
    if (parts.length === 1) return { sql: parts[0] ?? '', params };
    params.push(n);
    return { sql: `SELECT * FROM (${parts.join(' UNION ALL ')}) ${order} LIMIT ?`, params };
  }

  async list(q: ListQuery): Promise<Page> {
    const { sql, params } = this.listSql(q);
    // a list's SQL is one of a few shapes (order, status, cursor or not): each prepared once
    let stmt = this.listStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<(string | number)[], ListTuple>(sql).raw(true);
      this.listStatements.set(sql, stmt);
    }
    return toPage(stmt.all(...params).map(listedMessage), q);
  }

  /** SQLite's plan for a list query (tests: no list reads past rows of other statuses). */
  explainList(q: ListQuery): string {
    const { sql, params } = this.listSql(q);
    return this.db
      .prepare<(string | number)[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...params)
      .map((r) => r.detail)
      .join('\n');
  }

  async cancel(id: string, now: Date): Promise<CancelResult> {
    const row = this.stmts.cancel.get(now.getTime(), id);
    if (row) return { result: 'cancelled', message: toMessage(row) };
    return notApplied(this.stmts.statusOf.get(id)?.status);
  }

  async failUnsent(
    destination: string,
    reason: string,
    now: Date,
    batch = FAIL_UNSENT_BATCH,
  ): Promise<number> {
    if (destination === DEFAULT_DESTINATION_ID) return 0;
    return inBatches(
      batch,
      () => this.stmts.failUnsent.run(now.getTime(), reason, destination, batch).changes,
    );
  }

  async claim(req: ClaimRequest): Promise<ClaimedMessage[]> {
    return this.claimRows(req);
  }

  /** The claim of `count` lanes in one statement, prepared at its first use (lanesClaimSql). */
  private laneClaim(count: number): Database.Statement<(string | number)[], ClaimedTuple> {
    let st = this.laneClaims.get(count);
    if (!st) {
      st = this.db.prepare<(string | number)[], ClaimedTuple>(lanesClaimSql(count)).raw(true);
      this.laneClaims.set(count, st);
    }
    return st;
  }

  private claimRows(req: ClaimRequest): ClaimedMessage[] {
    const now = req.now.getTime();
    const due = req.dueBy?.getTime() ?? now;
    const exp = now + req.leaseMs;
    const lease = new Date(exp);
    const claimed: ClaimedMessage[] = [];
    const total = req.total ?? Infinity;
    const first = Math.min(req.limit, total);
    if (first > 0) {
      for (const { pr } of this.stmts.priorities.all()) {
        const limit = first - claimed.length;
        if (limit <= 0) break;
        for (const r of this.stmts.claim.all({ owner: req.owner, now, due, exp, limit, priority: pr }))
          claimed.push(toClaimed(r, lease));
      }
    }
    const lanes = openLanes(req.lanes);
    for (let i = 0; i < lanes.length && claimed.length < total; i += LANES_PER_STATEMENT) {
      const part = lanes.slice(i, i + LANES_PER_STATEMENT);
      const left = Number.isFinite(total) ? total - claimed.length : -1;
      const params = lanesClaimParams(part, now, req.owner, exp, left);
      for (const r of this.laneClaim(part.length).all(...params)) claimed.push(toClaimed(r, lease));
    }
    return claimed.sort(byClaimOrder);
  }

  async completeAndClaim(
    completions: Completion[],
    claim: ClaimRequest,
    now: Date,
  ): Promise<CompleteAndClaim> {
    return this.stmts.completeAndClaim.immediate(completions, claim, now);
  }

  async complete(completions: Completion[], now: Date): Promise<string[]> {
    return this.stmts.complete.immediate(completions, now);
  }

  private completeRows(items: Completion[], now: Date): string[] {
    const applied: string[] = [];
    const at = now.getTime();
    for (const c of items) {
      const o = c.outcome;
      const { changes } = this.stmts.completeOne.run(
        statusOf(o),
        at,
        o.kind === 'sent' ? o.sentAt.getTime() : null,
        o.kind === 'sent' ? o.webhookResponseMessageId : null,
        errorOf(o),
        o.kind === 'retry' ? o.dueAt.getTime() : null,
        c.attempt ? 1 : 0,
        c.id,
        c.owner,
      );
      const a = c.attempt;
      if (a) {
        this.stmts.insertAttempt.run(
          a.message_id,
          a.attempt,
          a.started_at.getTime(),
          a.latency_ms,
          a.status_code,
          a.error,
          a.outcome,
          a.destination_id ?? null,
          a.url ?? null,
          c.owner,
        );
      }
      if (changes === 1) applied.push(c.id);
    }
    return applied;
  }

  async recoverExpired(now: Date, to: 'unsent' | 'unknown' = 'unsent'): Promise<number> {
    return this.stmts.recover.run({
      now: now.getTime(),
      to,
      error: to === 'unknown' ? LEASE_LOST_ERROR : null,
    }).changes;
  }

  async recoverOwners(
    owners: readonly string[],
    now: Date,
    to: 'unsent' | 'unknown' = 'unsent',
  ): Promise<number> {
    if (owners.length === 0) return 0;
    return this.db
      .prepare(
        `UPDATE messages SET status = @to, lease_owner = NULL, lease_expires_at = NULL,
           processing_started_at = NULL, updated_at = @now, last_error = COALESCE(@error, last_error)
         WHERE status = 'processing' AND lease_owner IN (SELECT value FROM json_each(@owners))`,
      )
      .run({
        now: now.getTime(),
        to,
        error: to === 'unknown' ? NODE_LOST_ERROR : null,
        owners: JSON.stringify(owners),
      }).changes;
  }

  async resolve(id: string, action: ResolveAction, now: Date): Promise<ResolveResult> {
    const row =
      action === 'retry'
        ? this.stmts.retry.get({ id, now: now.getTime() })
        : this.stmts.giveUp.get({ id, now: now.getTime(), prefix: GIVE_UP_PREFIX });
    if (row) return { result: 'done', message: toMessage(row) };
    return notApplied(this.stmts.statusOf.get(id)?.status);
  }

  async releaseOwned(owner: string, keep: string[], now: Date): Promise<number> {
    return this.stmts.releaseOwned.run(now.getTime(), owner, JSON.stringify(keep)).changes;
  }

  async release(owner: string, ids: string[], now: Date): Promise<number> {
    const run = this.db.transaction(() => {
      let n = 0;
      for (const id of ids) n += this.stmts.release.run(now.getTime(), id, owner).changes;
      return n;
    });
    return run.immediate();
  }

  /** The query plan of the claim (benchmarks show that it stays on the partial index). */
  async explainClaim(): Promise<string> {
    const now = Date.now();
    return this.db
      .prepare<ClaimParams, { detail: string }>(`EXPLAIN QUERY PLAN ${CLAIM_SQL}`)
      .all({ owner: 'explain', now, due: now, exp: now, limit: 64, priority: 0 })
      .map((r) => r.detail)
      .join('\n');
  }

  async nextDueAt(): Promise<Date | null> {
    const a = this.stmts.nextDue.get()?.due ?? null;
    const b = this.stmts.nextDueRouted.get()?.due ?? null;
    const due = a === null ? b : b === null ? a : Math.min(a, b);
    return due !== null ? new Date(due) : null;
  }

  async nextDueOf(destinations: readonly string[]): Promise<Map<string, Date>> {
    const out = new Map<string, Date>();
    for (const destination of destinations) {
      const due =
        destination === DEFAULT_DESTINATION_ID
          ? this.stmts.nextDue.get()?.due
          : this.stmts.nextDueLane.get({ destination })?.due;
      if (due != null) out.set(destination, new Date(due));
    }
    return out;
  }

  async countByStatus(cap?: number): Promise<Record<MessageStatus, number>> {
    const counts = emptyCounts();
    if (cap === undefined) {
      for (const r of this.stmts.counts.all()) counts[r.status] = r.n;
      return counts;
    }
    for (const status of MESSAGE_STATUSES) {
      let n = 0;
      // each part capped: the sum is at most cap + 1 too
      for (const part of this.cappedCounts[status]) n += part.get(cap + 1 - n)?.n ?? 0;
      counts[status] = Math.min(n, cap + 1);
    }
    return counts;
  }

  /** Each status's bounded count, read from the index that holds it (STATUS_SOURCES). */
  private get cappedCounts(): Record<MessageStatus, Database.Statement<[number], { n: number }>[]> {
    this.cappedCountStmts ??= Object.fromEntries(
      MESSAGE_STATUSES.map((status) => [
        status,
        STATUS_SOURCES[status].map((src) =>
          this.db.prepare<[number], { n: number }>(
            `SELECT count(*) AS n FROM (SELECT 1 FROM messages INDEXED BY ${src.index}
               WHERE status = '${statusLiteral(status)}'${src.where ? ` AND ${src.where}` : ''} LIMIT ?)`,
          ),
        ),
      ]),
    ) as Record<MessageStatus, Database.Statement<[number], { n: number }>[]>;
    return this.cappedCountStmts;
  }
  private cappedCountStmts: Record<MessageStatus, Database.Statement<[number], { n: number }>[]> | null =
    null;
}
