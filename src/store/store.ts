import type { DeliveryAttempt, Message, MessageStatus, NewMessage } from '../domain/message.js';
import { MESSAGE_STATUSES } from '../domain/message.js';
import { DEFAULT_DESTINATION_ID } from '../domain/destination.js';
import type { ApiKeyStore } from './key-store.js';
import type { ControlStore } from './control-store.js';
import type { DestinationHealthStore } from './destination-health-store.js';
import type { DestinationStore } from './destination-store.js';
import type { ScheduleStore } from './schedule-store.js';

/**
 * The storage seam. The core (API, worker pool, seeding) depends on this
 * interface only; one adapter per database implements it and the contract
 * suite in test/contract runs against every adapter.
 */
export interface MessageStore {
  readonly kind: 'sqlite' | 'postgres' | 'mongodb';
  /**
   * Runs in this process (SQLite): a call costs CPU, mostly per transaction, and no
   * network round trip, so the worker pool claims in bigger rounds from a bigger
   * ready buffer. A server store's rounds are smaller and overlap.
   */
  readonly embedded: boolean;
  /** Creates tables/indexes or applies migrations. Idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  /** The API keys, in the same database (its own table or collection). */
  readonly keys: ApiKeyStore;
  /** The cluster's pool state and the nodes' heartbeats. */
  readonly control: ControlStore;
  /** The receivers of webhooks (destinations), in the same database. */
  readonly destinations: DestinationStore;
  /** Their circuits and health figures (destination-health-store.ts). */
  readonly health: DestinationHealthStore;
  /** The schedules (messages sent on a calendar), in the same database. */
  readonly schedules: ScheduleStore;

  /**
   * Inserts messages in one transaction (SQL) or one bulk write (MongoDB).
   * A message whose idempotency_key already exists is not inserted: the
   * existing one comes back with created=false.
   */
  create(messages: NewMessage[], now: Date): Promise<CreateResult[]>;
  get(id: string): Promise<Message | null>;
  /** The message created under this idempotency key, if any. */
  getByIdempotencyKey(key: string): Promise<Message | null>;
  attempts(id: string): Promise<DeliveryAttempt[]>;
  list(query: ListQuery): Promise<Page>;
  /** unsent → cancelled; only an unsent message can be cancelled. */
  cancel(id: string, now: Date): Promise<CancelResult>;

  /**
   * Atomically claims due unsent messages for `owner`, best first (priority desc, due_at,
   * created_at) in each lane: up to `limit` of `default`'s and up to each lane's limit of its
   * destination's (ClaimRequest). Sets processing and a lease. Never hands one message to two claimers.
   */
  claim(request: ClaimRequest): Promise<ClaimedMessage[]>;
  /** Applies outcomes; each only if `owner` still holds the lease. Returns the ids applied. */
  complete(completions: Completion[], now: Date): Promise<string[]>;
  /**
   * complete() then claim(), as one transaction where the store can: the worker
   * pool's hot path, where one commit instead of two is most of the store's cost.
   * After an error the completions may or may not be stored; sending them again
   * is safe (one already applied is not applied twice).
   */
  completeAndClaim(completions: Completion[], claim: ClaimRequest, now: Date): Promise<CompleteAndClaim>;
  /**
   * processing with an expired lease → `to` (unsent; unknown in at-most-once
   * mode, since the dead holder may have sent it). Returns how many.
   */
  recoverExpired(now: Date, to?: 'unsent' | 'unknown'): Promise<number>;
  /**
   * An operator's decision on a held message: `retry` takes an unknown or
   * failed message back to unsent, due now; `give_up` turns an unknown one
   * into failed. Any other status is a conflict.
   */
  resolve(id: string, action: ResolveAction, now: Date): Promise<ResolveResult>;
  /**
   * processing messages leased by any of `owners` (nodes that stopped heartbeating) → `to`
   * (unsent; unknown in at-most-once mode), at once rather than at lease expiry. Returns how many.
   */
  recoverOwners(owners: readonly string[], now: Date, to?: 'unsent' | 'unknown'): Promise<number>;
  /**
   * A deleted destination's waiting messages: unsent → failed with `reason`, no attempt counted
   * (`retry` sends one again once a destination of that id exists). In batches of `batch`, read
   * from the destination's lane, so a large backlog does not hold the store in one transaction.
   * Returns how many.
   */
  failUnsent(destination: string, reason: string, now: Date, batch?: number): Promise<number>;
  /** Gives back the owner's leases (shutdown): processing → unsent. */
  release(owner: string, ids: string[], now: Date): Promise<number>;
  /**
   * Gives back every lease of `owner` except `keep`: after a store error the
   * owner cannot know whether its last claim was applied, and messages it
   * claimed without hearing so would otherwise wait for their lease to expire.
   * They were never sent, so they go back to unsent in either delivery mode.
   */
  releaseOwned(owner: string, keep: string[], now: Date): Promise<number>;
  /** Earliest due_at among unsent messages, or null. */
  nextDueAt(): Promise<Date | null>;
  /**
   * Each destination's earliest due_at among its unsent messages (`default`: those with no
   * destination of their own), in one call; a destination with none is not in the map.
   */
  nextDueOf(destinations: readonly string[]): Promise<Map<string, Date>>;
  /**
   * Counts per status (tests, benchmarks, the metrics' gauges). With `cap`, each status is counted
   * to at most `cap + 1` from the index that holds it (the dashboard's backlog: a bounded cost
   * whatever the table's size; a count above `cap` means "more than cap").
   */
  countByStatus(cap?: number): Promise<Record<MessageStatus, number>>;
}

export interface CompleteAndClaim {
  /** ids whose outcome was stored */
  applied: string[];
  claimed: ClaimedMessage[];
}

/**
 * What a claim hands the worker pool: the fields a delivery needs, and not the
 * rest of the row. Reading and converting every column of every claimed row
 * was a tenth of the service's CPU per message on SQLite.
 */
export type ClaimedMessage = Pick<
  Message,
  | 'id'
  | 'webhook_id'
  | 'content'
  | 'recipient_phone_number'
  | 'attempts'
  | 'priority'
  | 'due_at'
  | 'created_at'
  | 'lease_expires_at'
  | 'trace_context'
  | 'destination_id'
>;

/**
 * A claimed row as the SQL adapters read it, in array form (no object per row
 * from the driver): the ClaimedMessage fields in this order, times as epoch
 * milliseconds, no lease expiry (the claim request sets it). Columns after
 * these are the adapter's own.
 */
export type ClaimedTuple = [
  id: string,
  webhookId: string,
  content: string,
  recipientPhoneNumber: string,
  attempts: number,
  priority: number,
  dueAtMs: number,
  createdAtMs: number,
  traceContext: string | null,
  destinationId: string | null,
  ...rest: unknown[],
];

export function toClaimed(r: ClaimedTuple, leaseExpiresAt: Date): ClaimedMessage {
  return {
    id: r[0],
    webhook_id: r[1],
    content: r[2],
    recipient_phone_number: r[3],
    attempts: r[4],
    priority: r[5],
    due_at: new Date(r[6]),
    created_at: new Date(r[7]),
    lease_expires_at: leaseExpiresAt,
    trace_context: r[8],
    destination_id: r[9],
  };
}

/** Why a conditional update matched nothing: the message is missing, or in another status. */
export type NotApplied = { result: 'not_found' } | { result: 'conflict'; status: MessageStatus };

export function notApplied(status: MessageStatus | undefined): NotApplied {
  return status ? { result: 'conflict', status } : { result: 'not_found' };
}

export interface CreateResult {
  message: Message;
  created: boolean;
}

export interface Cursor {
  /** sort value: created_at, sent_at for the sent list, due_at for the due list */
  at: Date;
  id: string;
  /** the due list's other keys */
  priority?: number | undefined;
  created?: Date | undefined;
}

/**
 * List orders, each read from an index the delivery path keeps anyway, so no list costs a
 * delivery anything: created: newest created_at first (messages_created; the rare statuses by
 * their partial indexes); sent: status=sent, newest sent_at first (messages_sent); due:
 * status=unsent in delivery order, next first (priority desc, due_at, created_at, id; messages_due).
 */
export type ListOrder = 'created' | 'sent' | 'due';

/** The order GET /messages lists a status in: each from an index the delivery path keeps. */
export function orderOf(status: MessageStatus | undefined): ListOrder {
  return status === 'unsent' ? 'due' : status === 'sent' ? 'sent' : 'created';
}

export interface ListQuery {
  status?: MessageStatus | undefined;
  /** only this destination's messages (`default`: those with no destination of their own) */
  destination?: string | undefined;
  /** only the messages of one fan-out */
  group?: string | undefined;
  /** only the messages to this recipient_phone_number (messages_recipient) */
  recipient?: string | undefined;
  /**
   * only those whose sort time (created_at; sent_at for the sent list) is at or after this; the
   * upper end of a time range is a cursor (`after`). Not for the due list (delivery order).
   */
  since?: Date | undefined;
  order: ListOrder;
  limit: number;
  after?: Cursor | undefined;
}

export interface Page {
  items: Message[];
  next: Cursor | null;
}

export type ResolveAction = 'retry' | 'give_up';

/** The statuses each operator action applies to. */
export const RESOLVE_FROM: Record<ResolveAction, readonly MessageStatus[]> = {
  retry: ['unknown', 'failed'],
  give_up: ['unknown'],
};

export const GIVE_UP_PREFIX = 'given up by an operator';

/** How many messages failUnsent changes per transaction. */
export const FAIL_UNSENT_BATCH = 1000;

/** Runs `step` (one transaction of at most `batch` changes) until one changes fewer; the total. */
export async function inBatches(batch: number, step: () => number | Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await step();
    total += n;
    if (n < batch) return total;
  }
}

/** last_error of a message whose destination was deleted while it waited. */
export const deletedDestinationError = (id: string): string =>
  `not sent: destination ${id} was deleted (retry the message once it exists again)`;

/** last_error of a message whose holder died mid-delivery (at-most-once recovery). */
export const LEASE_LOST_ERROR =
  'outcome unknown: the process delivering it stopped before recording the result (lease expired)';

/** last_error of a message whose holder stopped heartbeating mid-delivery (at-most-once recovery). */
export const NODE_LOST_ERROR =
  'outcome unknown: the node delivering it stopped heartbeating before recording the result (pool.nodeTimeout)';

export type ResolveResult = { result: 'done'; message: Message } | NotApplied;

export type CancelResult = { result: 'cancelled'; message: Message } | NotApplied;

export interface ClaimRequest {
  owner: string;
  /** the most messages of `default` (those with no destination of their own) to claim */
  limit: number;
  now: Date;
  /**
   * `default`'s messages due at or before this time are claimed (absent: `now`). A pool claims a
   * little ahead of the due time and holds what it took until then (pool.claimAhead), so the claim's
   * round trip is not part of a message's lateness. Lanes always claim what is due at `now`.
   */
  dueBy?: Date | undefined;
  leaseMs: number;
  /**
   * Destinations claimed each from its own index range (messages_lane), at most its lane's limit:
   * a destination without a lane (paused, disabled, at its rate or in-flight limit, breaker open)
   * has none of its rows read. Never `default`, whose messages `limit` bounds.
   */
  lanes?: readonly ClaimLane[] | undefined;
  /**
   * At most this many in all, `default` first, then the lanes in their order (the lanes may ask for
   * more than this together: a lane with fewer due than it asked leaves its part to the next).
   * Absent: `limit` and the lanes' limits together.
   */
  total?: number | undefined;
}

export interface ClaimLane {
  destination: string;
  limit: number;
}

/** The lanes worth a query: a positive limit, never `default` (claimed by `limit`). */
export function openLanes(lanes: readonly ClaimLane[] | undefined): ClaimLane[] {
  if (!lanes) return [];
  return lanes.filter((l) => l.limit > 0 && l.destination !== DEFAULT_DESTINATION_ID);
}

export type Outcome =
  | { kind: 'sent'; webhookResponseMessageId: string | null; sentAt: Date }
  | { kind: 'retry'; error: string; dueAt: Date }
  | { kind: 'failed'; error: string }
  | { kind: 'invalid_content'; reason: string }
  /** at-most-once: the request may have reached the receiver; an operator decides */
  | { kind: 'unknown'; error: string };

export interface Completion {
  id: string;
  owner: string;
  outcome: Outcome;
  /** the attempt that led to the outcome (none for invalid_content) */
  attempt: DeliveryAttempt | null;
}

export function statusOf(outcome: Outcome): MessageStatus {
  switch (outcome.kind) {
    case 'sent':
      return 'sent';
    case 'retry':
      return 'unsent';
    case 'failed':
      return 'failed';
    case 'invalid_content':
      return 'invalid_content';
    case 'unknown':
      return 'unknown';
  }
}

export function emptyCounts(): Record<MessageStatus, number> {
  return { unsent: 0, processing: 0, sent: 0, failed: 0, invalid_content: 0, cancelled: 0, unknown: 0 };
}

/** Claim order: priority desc, then due_at, then created_at (for adapters whose RETURNING order is arbitrary). */
export function byClaimOrder(a: ClaimedMessage, b: ClaimedMessage): number {
  return (
    b.priority - a.priority ||
    a.due_at.getTime() - b.due_at.getTime() ||
    a.created_at.getTime() - b.created_at.getTime()
  );
}

/** completeAndClaim for stores without a cheaper way: two calls. */
export async function completeThenClaim(
  store: Pick<MessageStore, 'complete' | 'claim'>,
  completions: Completion[],
  claim: ClaimRequest,
  now: Date,
): Promise<CompleteAndClaim> {
  const applied = completions.length > 0 ? await store.complete(completions, now) : [];
  return { applied, claimed: await store.claim(claim) };
}

/** A page from `limit + 1` rows fetched in list order: the extra row only says there is a next page. */
export function toPage(rows: Message[], q: ListQuery): Page {
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  if (rows.length <= q.limit || !last) return { items, next: null };
  if (q.order === 'due') {
    return {
      items,
      next: { at: last.due_at, id: last.id, priority: last.priority, created: last.created_at },
    };
  }
  return {
    items,
    next: { at: (q.order === 'sent' ? last.sent_at : last.created_at) ?? new Date(0), id: last.id },
  };
}

/**
 * The due list after a cursor, as the four ranges of messages_due that follow it, in order:
 * same priority, due_at and created_at with a larger id; same priority and due_at, later
 * created_at; same priority, later due_at; lower priority. Each is one index seek; a single
 * OR of them would be read from the start of the index on every page.
 */
export const DUE_RANGES: readonly { eq: readonly DueKey[]; next: DueKey | 'id' }[] = [
  { eq: ['priority', 'due_at', 'created_at'], next: 'id' },
  { eq: ['priority', 'due_at'], next: 'created_at' },
  { eq: ['priority'], next: 'due_at' },
  // priority is descending: "next" is lower
  { eq: [], next: 'priority' },
];
export type DueKey = 'priority' | 'due_at' | 'created_at';

/** The cursor's value of a due-order key. */
export function dueValue(c: Cursor, key: DueKey | 'id'): number | Date | string {
  if (key === 'priority') return c.priority ?? 0;
  if (key === 'due_at') return c.at;
  if (key === 'created_at') return c.created ?? new Date(0);
  return c.id;
}

/** The last_error an outcome leaves on the message (null once sent). */
export function errorOf(outcome: Outcome): string | null {
  if (outcome.kind === 'sent') return null;
  return outcome.kind === 'invalid_content' ? outcome.reason : outcome.error;
}

/** A status safe to put in SQL text (SQL adapters inline it so partial indexes apply). */
export function statusLiteral(status: MessageStatus): MessageStatus {
  if (!(MESSAGE_STATUSES as readonly string[]).includes(status))
    throw new Error(`unknown status ${JSON.stringify(status)}`);
  return status;
}
