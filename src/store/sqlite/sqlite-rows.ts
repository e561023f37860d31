/**
 * The SQLite store's rows (times as epoch milliseconds) and their conversions to and from
 * messages, and its claim statement; sqlite-store.ts runs them.
 */
import type { DeliveryAttempt, Message, MessageStatus } from '../../domain/message.js';

export interface Row {
  id: string;
  webhook_response_message_id: string | null;
  content: string;
  recipient_phone_number: string;
  status: MessageStatus;
  created_at: number;
  sent_at: number | null;
  send_at: number;
  due_at: number;
  priority: number;
  attempts: number;
  last_error: string | null;
  updated_at: number;
  processing_started_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  webhook_id: string;
  idempotency_key: string | null;
  request_hash: string | null;
  trace_context: string | null;
  destination_id: string | null;
  group_id: string | null;
  topic: string | null;
}

export interface AttemptRow {
  message_id: string;
  attempt: number;
  started_at: number;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: DeliveryAttempt['outcome'];
  destination_id: string | null;
  url: string | null;
  node: string | null;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toMessage(r: Row): Message {
  return {
    ...r,
    created_at: new Date(r.created_at),
    sent_at: date(r.sent_at),
    send_at: new Date(r.send_at),
    due_at: new Date(r.due_at),
    updated_at: new Date(r.updated_at),
    processing_started_at: date(r.processing_started_at),
    lease_expires_at: date(r.lease_expires_at),
  };
}

const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

export function toRow(m: Message): Row {
  return {
    ...m,
    created_at: m.created_at.getTime(),
    sent_at: ms(m.sent_at),
    send_at: m.send_at.getTime(),
    due_at: m.due_at.getTime(),
    updated_at: m.updated_at.getTime(),
    processing_started_at: ms(m.processing_started_at),
    lease_expires_at: ms(m.lease_expires_at),
  };
}

/**
 * The claim of `default`'s messages (no destination of their own), one priority at a time, so the
 * scan is a range on (priority, due_at) of messages_due that stops at the first message not yet
 * due: with due_at behind priority in the index, a claim over all priorities at once would walk
 * every scheduled (future) message whenever fewer are due. It returns what a delivery needs
 * (ClaimedTuple), not the row.
 */
export const CLAIM_SQL = `UPDATE messages SET status = 'processing', processing_started_at = @now, lease_owner = @owner,
    lease_expires_at = @exp, updated_at = @now
  WHERE rowid IN (SELECT rowid FROM messages INDEXED BY messages_due
                  WHERE status = 'unsent' AND destination_id IS NULL AND priority = @priority AND due_at <= @due
                  ORDER BY priority DESC, due_at, created_at LIMIT @limit)
  RETURNING id, webhook_id, content, recipient_phone_number, attempts, priority, due_at, created_at,
    trace_context, destination_id`;

/**
 * `count` destinations' lanes in one statement: each its own range of messages_lane, in delivery
 * order, at most its limit, the lanes in their order until the total (a statement per lane cost a
 * round more than the rows it took). Parameters in order (lanesClaimParams): now, owner, lease
 * expiry, now; then per lane its destination, now and limit; then the total. A destination with no
 * lane this round has none of its rows read.
 */
export function lanesClaimSql(count: number): string {
  const arm = `SELECT rowid FROM (SELECT rowid FROM messages INDEXED BY messages_lane
        WHERE status = 'unsent' AND destination_id = ? AND due_at <= ?
        ORDER BY priority DESC, due_at, created_at LIMIT ?)`;
  return `UPDATE messages SET status = 'processing', processing_started_at = ?, lease_owner = ?,
    lease_expires_at = ?, updated_at = ?
  WHERE rowid IN (${Array.from({ length: count }, () => arm).join('\n      UNION ALL ')}
      LIMIT ?)
  RETURNING id, webhook_id, content, recipient_phone_number, attempts, priority, due_at, created_at,
    trace_context, destination_id`;
}

/** lanesClaimSql's parameters, in their order. */
export function lanesClaimParams(
  lanes: readonly { destination: string; limit: number }[],
  now: number,
  owner: string,
  exp: number,
  total: number,
): (string | number)[] {
  const out: (string | number)[] = [now, owner, exp, now];
  for (const lane of lanes) out.push(lane.destination, now, lane.limit);
  out.push(total);
  return out;
}

/** The most lanes one claim statement takes (more go in a second statement). */
export const LANES_PER_STATEMENT = 32;

/**
 * The priorities that have unsent messages meeting `cond` on index `index`, highest first: one
 * index seek each, as the CTE `p(pr)`.
 */
const prioritiesCte = (index: string, cond: string): string => `WITH RECURSIVE p(pr) AS (
    SELECT MAX(priority) FROM messages INDEXED BY ${index} WHERE status = 'unsent' AND ${cond}
    UNION ALL
    SELECT (SELECT MAX(priority) FROM messages INDEXED BY ${index}
            WHERE status = 'unsent' AND ${cond} AND priority < p.pr)
    FROM p WHERE p.pr IS NOT NULL)`;

/** `default`'s priorities (messages_due): the claim goes one priority at a time. */
export const PRIORITIES_CTE = prioritiesCte('messages_due', 'destination_id IS NULL');

/** The earliest due_at of the unsent messages meeting `cond` on `index`: its priorities, then the earliest of each. */
export const earliestDueSql = (index: string, cond: string): string => `${prioritiesCte(index, cond)}
  SELECT MIN((SELECT MIN(due_at) FROM messages INDEXED BY ${index}
              WHERE status = 'unsent' AND ${cond} AND priority = p.pr)) AS due
  FROM p WHERE p.pr IS NOT NULL`;

export type ClaimParams = {
  owner: string;
  now: number;
  /** what is due by this time is claimed (ClaimRequest.dueBy) */
  due: number;
  exp: number;
  limit: number;
  priority: number;
};
