/**
 * The MongoDB store's documents: their shapes (the original's snake_case fields, an ObjectId _id
 * and a fencing version), the conversions to and from messages, and the helpers every collection
 * shares (indexes, duplicate-key errors).
 */
import { MongoBulkWriteError, MongoServerError, ObjectId } from 'mongodb';
import type { Collection, Document, IndexDescription } from 'mongodb';
import type { DeliveryAttempt, Message } from '../../domain/message.js';
import { fromLegacy } from './legacy.js';
import { DEFAULT_DESTINATION_ID } from '../../domain/destination.js';

/** The document as stored: the original's snake_case fields, ObjectId _id, and a fencing version. */
export type MessageDoc = Omit<
  Message,
  'id' | 'idempotency_key' | 'trace_context' | 'destination_id' | 'group_id' | 'topic'
> & {
  _id: ObjectId;
  /** absent for the built-in `default` destination (and in every document older than destinations) */
  destination_id?: string | null;
  group_id?: string | null;
  topic?: string | null;
  /** absent when none, so the sparse unique index ignores it */
  idempotency_key?: string;
  /** absent when none (and in documents older than the field) */
  trace_context?: string;
  /** bumped by every state transition; see FENCING below */
  version: number;
};

export interface FenceDoc {
  _id: string;
  at: Date;
  /** the store instance (process) that took it, and the status it moves the message to */
  by?: string;
  to?: string;
}

/** _id: message, attempt number and start time, so storing the same completion twice adds one row */
export type AttemptDoc = DeliveryAttempt & { _id?: string };

/** a claimer looks at this many times the messages it needs (see claim) */
export const CLAIM_SPREAD = 3;

/** Removes and returns up to `n` random elements of `items`. */
export function takeRandom<T>(items: T[], n: number): T[] {
  const out: T[] = [];
  while (out.length < n && items.length > 0) {
    const i = Math.floor(Math.random() * items.length);
    out.push(...items.splice(i, 1));
  }
  return out;
}

/** statements per bulk write (see transition) */
export const BULK_CHUNK = 8;
export const FENCE_RETENTION_MS = 24 * 3_600_000;
/** A fence this old whose document never reached its version was left by a writer that died. */
export const FENCE_STALE_MS = 30_000;
export const SORT = { priority: -1, due_at: 1, created_at: 1 } as const;

/**
 * A stored document as a message. One still in the Go original's shape (no
 * `version`: written after the start-up backfill, or not understood by it) is
 * converted on the fly; throws LegacyDocError when it cannot be.
 */
export function toMessage(d: MessageDoc): Message {
  if (d.version === undefined) {
    return { ...fromLegacy(d, new Date()), id: d._id.toHexString(), idempotency_key: null };
  }
  const {
    _id,
    version: _version,
    idempotency_key,
    trace_context,
    destination_id,
    group_id,
    topic,
    ...rest
  } = d;
  return {
    ...rest,
    id: _id.toHexString(),
    idempotency_key: idempotency_key ?? null,
    // documents written before the field existed have none
    trace_context: trace_context ?? null,
    destination_id: destination_id ?? null,
    group_id: group_id ?? null,
    topic: topic ?? null,
  };
}

export function toDoc(m: Message): MessageDoc {
  const { id, idempotency_key, trace_context, destination_id, group_id, topic, ...rest } = m;
  const doc: MessageDoc = { ...rest, _id: new ObjectId(id), version: 0 };
  if (idempotency_key !== null) doc.idempotency_key = idempotency_key;
  if (trace_context !== null) doc.trace_context = trace_context;
  // absent rather than null, as the original's documents have none
  if (destination_id !== null) doc.destination_id = destination_id;
  if (group_id !== null) doc.group_id = group_id;
  if (topic !== null) doc.topic = topic;
  return doc;
}

/** The destination filter of a find (`default`: documents with no destination of their own). */
export function destinationFilter(destination: string): string | null {
  return destination === DEFAULT_DESTINATION_ID ? null : destination;
}

export async function ensureIndexes<T extends Document>(
  col: Collection<T>,
  specs: IndexDescription[],
): Promise<void> {
  const existing = new Set<string>();
  try {
    for (const ix of await col.listIndexes().toArray()) existing.add(String(ix.name));
  } catch (err) {
    // a collection that does not exist yet has no indexes
    if (!(err instanceof MongoServerError && err.code === 26)) throw err;
  }
  const missing = specs.filter((s) => !existing.has(s.name ?? ''));
  if (missing.length > 0) await col.createIndexes(missing);
}

export function duplicateIndexes(err: unknown): Set<number> {
  if (err instanceof MongoBulkWriteError) {
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const dup = new Set<number>();
    for (const w of writeErrors) {
      if (w.code !== 11000) throw err;
      dup.add(w.index);
    }
    return dup;
  }
  if (err instanceof MongoServerError && err.code === 11000) return new Set([0]);
  throw err;
}

/** The messages collection's indexes (created when missing: FerretDB v1 panics on an existing one). */
export const MESSAGE_INDEXES: IndexDescription[] = [
  { key: { status: 1, ...SORT }, name: 'due' },
  // each destination's claim lane (`default`: destination_id null or absent)
  { key: { status: 1, destination_id: 1, ...SORT }, name: 'lane' },
  { key: { status: 1, destination_id: 1, due_at: 1 }, name: 'lane_next_due' },
  { key: { status: 1, due_at: 1 }, name: 'next_due' },
  { key: { status: 1, lease_expires_at: 1 }, name: 'lease' },
  { key: { status: 1, sent_at: -1, _id: -1 }, name: 'sent' },
  { key: { created_at: -1, _id: -1 }, name: 'created' },
  { key: { status: 1, created_at: -1, _id: -1 }, name: 'status_created' },
  { key: { idempotency_key: 1 }, name: 'idempotency_key', unique: true, sparse: true },
  { key: { destination_id: 1, created_at: -1, _id: -1 }, name: 'destination_created' },
  { key: { group_id: 1, created_at: -1, _id: -1 }, name: 'group_created' },
  { key: { recipient_phone_number: 1, created_at: -1, _id: -1 }, name: 'recipient_created' },
];
export const FENCE_INDEXES: IndexDescription[] = [{ key: { at: 1 }, name: 'at' }];
export const ATTEMPT_INDEXES: IndexDescription[] = [
  { key: { message_id: 1, attempt: 1 }, name: 'message' },
  // a destination's attempts by outcome and time (its health); sparse: `default`'s attempts have
  // no destination_id field, so they add no entry
  { key: { destination_id: 1, outcome: 1, started_at: 1 }, name: 'destination', sparse: true },
];
