import type { Message } from '../domain/message.js';

/**
 * Every column of a message, in the SQL adapters' order (SQLite inserts in it). A listed message
 * is read as these columns in this order, as an array (no object per row from the driver), times
 * as epoch milliseconds. A 1,000-row page is the API's heaviest read: on SQLite (on the event
 * loop) object rows cost 7.5 ms against 3.9 as arrays, and PostgreSQL's driver parsed six
 * timestamptz a row as text.
 */
export const MESSAGE_COLUMNS = [
  'id',
  'webhook_response_message_id',
  'content',
  'recipient_phone_number',
  'status',
  'created_at',
  'sent_at',
  'send_at',
  'due_at',
  'priority',
  'attempts',
  'last_error',
  'updated_at',
  'processing_started_at',
  'lease_owner',
  'lease_expires_at',
  'webhook_id',
  'idempotency_key',
  'request_hash',
  'trace_context',
  'destination_id',
  'group_id',
  'topic',
] as const satisfies readonly (keyof Message)[];

/** The time columns of MESSAGE_COLUMNS: read as epoch milliseconds. */
export const LIST_TIME_COLUMNS: ReadonlySet<string> = new Set([
  'created_at',
  'sent_at',
  'send_at',
  'due_at',
  'updated_at',
  'processing_started_at',
  'lease_expires_at',
]);

/** One row of MESSAGE_COLUMNS (times in epoch milliseconds). */
export type ListTuple = [
  id: string,
  webhookResponseMessageId: string | null,
  content: string,
  recipientPhoneNumber: string,
  status: Message['status'],
  createdAt: number,
  sentAt: number | null,
  sendAt: number,
  dueAt: number,
  priority: number,
  attempts: number,
  lastError: string | null,
  updatedAt: number,
  processingStartedAt: number | null,
  leaseOwner: string | null,
  leaseExpiresAt: number | null,
  webhookId: string,
  idempotencyKey: string | null,
  requestHash: string | null,
  traceContext: string | null,
  destinationId: string | null,
  groupId: string | null,
  topic: string | null,
];

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function listedMessage(t: ListTuple): Message {
  return {
    id: t[0],
    webhook_response_message_id: t[1],
    content: t[2],
    recipient_phone_number: t[3],
    status: t[4],
    created_at: new Date(t[5]),
    sent_at: date(t[6]),
    send_at: new Date(t[7]),
    due_at: new Date(t[8]),
    priority: t[9],
    attempts: t[10],
    last_error: t[11],
    updated_at: new Date(t[12]),
    processing_started_at: date(t[13]),
    lease_owner: t[14],
    lease_expires_at: date(t[15]),
    webhook_id: t[16],
    idempotency_key: t[17],
    request_hash: t[18],
    trace_context: t[19],
    destination_id: t[20],
    group_id: t[21],
    topic: t[22],
  };
}

/**
 * Where the SQL adapters index each status's messages: one partial index each, unsent in two (by
 * whether a destination of its own holds it). A bounded count of a status reads its index only.
 */
export const STATUS_SOURCES: Readonly<
  Record<Message['status'], readonly { index: string; where: string }[]>
> = {
  unsent: [
    { index: 'messages_due', where: 'destination_id IS NULL' },
    { index: 'messages_due_routed', where: 'destination_id IS NOT NULL' },
  ],
  processing: [{ index: 'messages_lease', where: '' }],
  sent: [{ index: 'messages_sent', where: '' }],
  failed: [{ index: 'messages_failed', where: '' }],
  invalid_content: [{ index: 'messages_invalid', where: '' }],
  cancelled: [{ index: 'messages_cancelled', where: '' }],
  unknown: [{ index: 'messages_unknown', where: '' }],
};
