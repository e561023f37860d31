/**
 * The PostgreSQL store's statements: the insert, the claim (candidates in delivery order, locked
 * with SKIP LOCKED, then leased), the completion CTEs (outcome and attempt row in one statement,
 * only for the lease holder) and the list columns. postgres-store.ts runs them.
 */
import type { Message } from '../../domain/message.js';
import { errorOf, statusOf, type Completion } from '../store.js';
import { LIST_TIME_COLUMNS, MESSAGE_COLUMNS } from '../sql-rows.js';

export const INSERT_COLUMNS: readonly [keyof Message, string][] = [
  ['id', 'text'],
  ['webhook_response_message_id', 'text'],
  ['content', 'text'],
  ['recipient_phone_number', 'text'],
  ['status', 'text'],
  ['created_at', 'timestamptz'],
  ['sent_at', 'timestamptz'],
  ['send_at', 'timestamptz'],
  ['due_at', 'timestamptz'],
  ['priority', 'int4'],
  ['attempts', 'int4'],
  ['updated_at', 'timestamptz'],
  ['webhook_id', 'text'],
  ['idempotency_key', 'text'],
  ['request_hash', 'text'],
  ['trace_context', 'text'],
  ['destination_id', 'text'],
  ['group_id', 'text'],
  ['topic', 'text'],
];

export const INSERT_SQL = `INSERT INTO messages (${INSERT_COLUMNS.map(([c]) => c).join(', ')})
  SELECT * FROM unnest(${INSERT_COLUMNS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`;

/**
 * The claim's candidates, CTEs over parameters $now and $limit: `default`'s messages (no destination
 * of their own, messages_due) by the priorities that have unsent messages (one index probe each,
 * highest first), then per priority a range scan that stops at the first message not yet due. A
 * single scan ordered by (priority, due_at) would walk every scheduled (future) message whenever
 * fewer than $limit are due. With `lanes`, each destination of $lanes (text[]) also gets at most
 * its $laneLimits (int4[]) from its own range of messages_lane; no other destination's row is read.
 */
const claimCandidates = (
  due: string,
  now: string,
  limit: string,
  lanes?: { ids: string; limits: string; total: string },
): string => `p(pr) AS (
    (SELECT priority FROM messages WHERE status = 'unsent' AND destination_id IS NULL
     ORDER BY priority DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT priority FROM messages WHERE status = 'unsent' AND destination_id IS NULL AND priority < p.pr
            ORDER BY priority DESC LIMIT 1)
    FROM p WHERE p.pr IS NOT NULL
  ), q0 AS (
    SELECT x.id FROM p CROSS JOIN LATERAL (
      SELECT id, priority, due_at, created_at FROM messages
      WHERE status = 'unsent' AND destination_id IS NULL AND priority = p.pr AND due_at <= ${due}
      ORDER BY priority DESC, due_at, created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) x
    WHERE ${limit} > 0
    ORDER BY x.priority DESC, x.due_at, x.created_at LIMIT ${limit}
  ), q AS (${
    lanes
      ? `
    -- default first, then the lanes in their order, until the total: rows past it are not locked
    SELECT id FROM (
      SELECT id FROM q0
      UNION ALL
      SELECT x.id FROM unnest(${lanes.ids}::text[], ${lanes.limits}::int4[]) AS l(d, n) CROSS JOIN LATERAL (
        SELECT id FROM messages
        WHERE status = 'unsent' AND destination_id = l.d AND due_at <= ${now}
        ORDER BY priority DESC, due_at, created_at LIMIT l.n FOR UPDATE SKIP LOCKED) x
    ) u LIMIT ${lanes.total}`
      : `
    SELECT id FROM q0`
  }
  )`;

/**
 * Takes the candidates `q` for `owner` until `exp`; returns a ClaimedTuple per message (times as
 * epoch ms: the driver parses a timestamptz as text), not the whole row.
 */
const claimUpdate = (now: string, owner: string, exp: string): string => `UPDATE messages m
    SET status = 'processing', processing_started_at = ${now}, lease_owner = ${owner},
      lease_expires_at = ${exp}, updated_at = ${now}
    WHERE m.id = ANY (ARRAY(SELECT id FROM q))
    RETURNING m.id, m.webhook_id, m.content, m.recipient_phone_number, m.attempts, m.priority,
      (extract(epoch FROM m.due_at) * 1000)::float8 AS due_at,
      (extract(epoch FROM m.created_at) * 1000)::float8 AS created_at, m.trace_context, m.destination_id`;

/** `default` only, or with destinations' lanes (their ids and limits bound after the claim's own parameters). */
export type ClaimShape = 'default' | 'lanes';

/**
 * The claim: owner $1, now $2, lease expiry $3, `default`'s limit $4; lanes $5, their limits $6,
 * the total $7; last, what `default` claims is due by (ClaimRequest.dueBy): $5, or $8 with lanes.
 */
export const CLAIM_SQL_BY_SHAPE: Record<ClaimShape, string> = {
  default: `WITH RECURSIVE ${claimCandidates('$5', '$2', '$4')} ${claimUpdate('$2', '$1', '$3')}`,
  lanes: `WITH RECURSIVE ${claimCandidates('$8', '$2', '$4', { ids: '$5', limits: '$6', total: '$7' })} ${claimUpdate('$2', '$1', '$3')}`,
};

export const CLAIM_SQL = CLAIM_SQL_BY_SHAPE.default;

// times travel as epoch milliseconds (float8): the driver formats and parses a timestamptz
// as text with the local offset, a few microseconds per value on the hot path. The completions
// travel as one JSON parameter (completionsJson), not as 16 arrays: node-postgres builds each array
// literal by concatenation, about 3 KB of garbage per message for the collector.
const COMPLETION_CTES = `c AS (
    SELECT id, owner, status, to_timestamp(sent_ms / 1000) AS sent_at, resp, error,
           to_timestamp(due_ms / 1000) AS due_at, inc, attempt, to_timestamp(started_ms / 1000) AS started_at,
           latency_ms, status_code, attempt_error, outcome, destination_id, url
    FROM json_to_recordset($1::json)
      AS u(id text, owner text, status text, sent_ms float8, resp text, error text, due_ms float8, inc int4,
           attempt int4, started_ms float8, latency_ms float8, status_code int4, attempt_error text,
           outcome text, destination_id text, url text)
  ), ins AS (
    INSERT INTO delivery_attempts (message_id, attempt, started_at, latency_ms, status_code, error, outcome,
      destination_id, url, node)
    SELECT id, attempt, started_at, latency_ms, status_code, attempt_error, outcome, destination_id, url, owner
    FROM c WHERE attempt IS NOT NULL
  ), done AS (
    UPDATE messages m SET status = c.status, updated_at = $2,
      sent_at = COALESCE(c.sent_at, m.sent_at),
      webhook_response_message_id = COALESCE(c.resp, m.webhook_response_message_id),
      last_error = c.error, due_at = COALESCE(c.due_at, m.due_at), attempts = m.attempts + c.inc,
      lease_owner = NULL, lease_expires_at = NULL, processing_started_at = NULL
    FROM c WHERE m.id = c.id AND m.status = 'processing' AND m.lease_owner = c.owner
    RETURNING m.id
  )`;

/** Completions as JSON $1, now $2. */
export const COMPLETE_SQL = `WITH ${COMPLETION_CTES} SELECT id FROM done`;

/**
 * Completions and the next claim in one statement: one round trip, one commit.
 * The claim reads the statement's snapshot, where the completed rows are still
 * 'processing', so it cannot take them; a retried message is claimable from the
 * next round on. Rows come back as claimed messages, then one row per completion
 * that was refused (all message columns null, refused_id set): usually none, so a
 * round's answer carries no row for the outcomes it stored (a row each cost the
 * server and the driver a few microseconds per message).
 */
const completeAndClaim = (lanes?: { ids: string; limits: string; total: string }): string =>
  `WITH RECURSIVE ${COMPLETION_CTES}, ${claimCandidates(lanes ? '$9' : '$6', '$2', '$5', lanes)}, claimed AS (
    ${claimUpdate('$2', '$3', '$4')}
  )
  SELECT claimed.*, NULL::text AS refused_id FROM claimed
  UNION ALL
  SELECT NULL::text, NULL::text, NULL::text, NULL::text, NULL::int4, NULL::int4, NULL::float8,
    NULL::float8, NULL::text, NULL::text, c.id FROM c WHERE NOT EXISTS (SELECT 1 FROM done WHERE done.id = c.id)`;

/**
 * Completions (JSON $1, now $2), then the claim: owner $3, lease expiry $4, limit $5; lanes $6, $7,
 * total $8; last, what `default` claims is due by: $6, or $9 with lanes.
 */
export const COMPLETE_AND_CLAIM_SQL_BY_SHAPE: Record<ClaimShape, string> = {
  default: completeAndClaim(),
  lanes: completeAndClaim({ ids: '$6', limits: '$7', total: '$8' }),
};

export const COMPLETE_AND_CLAIM_SQL = COMPLETE_AND_CLAIM_SQL_BY_SHAPE.default;

/** Where a refused completion's id sits in a row of COMPLETE_AND_CLAIM_SQL (after the claimed message's columns). */
export const REFUSED_ID_COLUMN = 10;

/** The completions as the JSON array COMPLETION_CTES reads: one object per completion. */
export function completionsJson(completions: Completion[]): string {
  return JSON.stringify(
    completions.map((c) => {
      const o = c.outcome;
      const a = c.attempt;
      return {
        id: c.id,
        owner: c.owner,
        status: statusOf(o),
        sent_ms: o.kind === 'sent' ? o.sentAt.getTime() : null,
        resp: o.kind === 'sent' ? o.webhookResponseMessageId : null,
        error: errorOf(o),
        due_ms: o.kind === 'retry' ? o.dueAt.getTime() : null,
        inc: a ? 1 : 0,
        attempt: a?.attempt ?? null,
        started_ms: a?.started_at.getTime() ?? null,
        latency_ms: a?.latency_ms ?? null,
        status_code: a?.status_code ?? null,
        attempt_error: a?.error ?? null,
        outcome: a?.outcome ?? null,
        destination_id: a?.destination_id ?? null,
        url: a?.url ?? null,
      };
    }),
  );
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/**
 * The list columns (sql-rows.ts), times as epoch milliseconds under their own names (`due_ms`):
 * an alias named like its column would make ORDER BY sort by the expression instead of reading
 * the index in order.
 */
export const LIST_SELECT = MESSAGE_COLUMNS.map((c) =>
  LIST_TIME_COLUMNS.has(c) ? `(extract(epoch FROM ${c}) * 1000)::float8 AS ${c.replace(/_at$/, '_ms')}` : c,
).join(', ');
