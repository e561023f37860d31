import { ObjectId } from 'mongodb';
import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import type { Message, MessageStatus } from '../../domain/message.js';
import { MESSAGE_STATUSES } from '../../domain/message.js';
import { webhookIdFor } from '../../domain/ids.js';

/**
 * Documents the Go original wrote: `_id`, `webhook_response_message_id`,
 * `content`, `recipient_phone_number`, `status`, `created_at`, `sent_at` and
 * sometimes `err`. Times are BSON dates (its driver) or RFC 3339 strings (its
 * seeding, which inserted the JSON as it was); Go's zero time means "not sent".
 * They have none of this store's fields, `version` among them: a document
 * without `version` is the original's.
 *
 * They are brought to this store's shape by an idempotent, resumable backfill
 * at start (docs/decisions.md, "The original's MongoDB documents are backfilled
 * at start"); reads convert one that is still in the original's shape on the fly.
 */
export type LegacyDoc = Document & { _id: unknown };

/** A document that cannot be read as a message: reported with its _id and skipped. */
export class LegacyDocError extends Error {
  override name = 'LegacyDocError';
  constructor(
    readonly docId: string,
    reason: string,
  ) {
    super(`document ${docId}: ${reason}`);
  }
}

/** Go's zero time (0001-01-01T00:00:00Z), as a date or a string: not set. */
function isZeroTime(d: Date): boolean {
  return d.getUTCFullYear() <= 1;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A time the original stored; null when absent or Go's zero time. */
export function legacyTime(value: unknown, field: string, id: string): Date | null {
  if (value === undefined || value === null || value === '') return null;
  let d: Date;
  if (value instanceof Date) d = value;
  else if (typeof value === 'string' && RFC3339.test(value.trim())) d = new Date(value.trim());
  else throw new LegacyDocError(id, `${field} ${JSON.stringify(value)} is not a date or an RFC 3339 time`);
  if (Number.isNaN(d.getTime()))
    throw new LegacyDocError(id, `${field} ${JSON.stringify(value)} is not a valid time`);
  return isZeroTime(d) ? null : d;
}

function idOf(doc: LegacyDoc): string {
  const id = doc._id;
  if (id instanceof ObjectId) return id.toHexString();
  return JSON.stringify(id) ?? String(id);
}

/**
 * This store's fields for a document of the original. Throws LegacyDocError
 * naming the document when it cannot be understood. A `processing` document
 * (the original stopped mid-delivery) gets an expired lease, so lease recovery
 * treats it as any dead holder's: back to unsent, or unknown in at-most-once mode.
 */
export function fromLegacy(doc: LegacyDoc, now: Date): Omit<Message, 'id' | 'idempotency_key'> {
  const id = idOf(doc);
  if (!(doc._id instanceof ObjectId)) throw new LegacyDocError(id, '_id is not an ObjectId');
  if (typeof doc.content !== 'string') throw new LegacyDocError(id, 'content is not a string');
  if (typeof doc.recipient_phone_number !== 'string') {
    throw new LegacyDocError(id, 'recipient_phone_number is not a string');
  }
  const status = doc.status === undefined || doc.status === '' ? 'unsent' : doc.status;
  if (typeof status !== 'string' || !(MESSAGE_STATUSES as readonly string[]).includes(status)) {
    throw new LegacyDocError(
      id,
      `status ${JSON.stringify(doc.status)} is not one of ${MESSAGE_STATUSES.join(', ')}`,
    );
  }
  const createdAt = legacyTime(doc.created_at, 'created_at', id) ?? doc._id.getTimestamp();
  const sentAt = legacyTime(doc.sent_at, 'sent_at', id);
  const responseId =
    typeof doc.webhook_response_message_id === 'string' && doc.webhook_response_message_id !== ''
      ? doc.webhook_response_message_id
      : null;
  const err = typeof doc.err === 'string' && doc.err !== '' ? doc.err : null;
  const processing = status === 'processing';
  return {
    webhook_response_message_id: responseId,
    content: doc.content,
    recipient_phone_number: doc.recipient_phone_number,
    status: status as MessageStatus,
    created_at: createdAt,
    sent_at: status === 'sent' ? sentAt : null,
    // the original delivered in created_at order, as soon as it could
    send_at: createdAt,
    due_at: createdAt,
    priority: 0,
    attempts: status === 'failed' || status === 'sent' ? 1 : 0,
    last_error: err,
    updated_at: now,
    processing_started_at: processing ? createdAt : null,
    lease_owner: processing ? 'go-original' : null,
    lease_expires_at: processing ? new Date(0) : null,
    webhook_id: webhookIdFor(id),
    request_hash: null,
    trace_context: null,
    // the original had one receiver: its messages go to the built-in `default`
    destination_id: null,
    group_id: null,
    topic: null,
  };
}

export interface BackfillReport {
  converted: number;
  /** documents left as they are, each reported */
  skipped: { id: string; reason: string }[];
}

const BACKFILL_BATCH = 500;

/**
 * Converts every document without `version` in place, in `_id` order, a batch
 * at a time. Idempotent (a converted document has a version and is not read
 * again) and resumable (a restart picks up the documents still without one).
 * Each update is conditional on the document still having no version, so
 * running it on two nodes at once converts each document once.
 */
export async function backfillLegacy(
  col: Collection<Document>,
  now: Date,
  onSkip: (id: string, reason: string) => void,
): Promise<BackfillReport> {
  const report: BackfillReport = { converted: 0, skipped: [] };
  let after: unknown = null;
  for (;;) {
    const filter: Document = { version: { $exists: false } };
    if (after !== null) filter._id = { $gt: after };
    const docs = (await col.find(filter).sort({ _id: 1 }).limit(BACKFILL_BATCH).toArray()) as LegacyDoc[];
    if (docs.length === 0) break;
    after = docs[docs.length - 1]?._id ?? null;
    const ops: AnyBulkWriteOperation<Document>[] = [];
    for (const doc of docs) {
      try {
        ops.push({
          updateOne: {
            filter: { _id: doc._id as ObjectId, version: { $exists: false } },
            update: { $set: { ...fromLegacy(doc, now), version: 0 } },
          },
        });
      } catch (err) {
        const reason = err instanceof LegacyDocError ? err.message : String(err);
        report.skipped.push({ id: idOf(doc), reason });
        onSkip(idOf(doc), reason);
      }
    }
    for (let i = 0; i < ops.length; i += 50) {
      const res = await col.bulkWrite(ops.slice(i, i + 50), { ordered: false });
      report.converted += res.modifiedCount;
    }
    if (docs.length < BACKFILL_BATCH) break;
  }
  return report;
}
