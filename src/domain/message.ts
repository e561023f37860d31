import { textProblem } from './text.js';

/**
 * The message and its life cycle, shared by every store and the API.
 *
 *   unsent ──claim──▶ processing ──2xx──▶ sent
 *     ▲  │               │  │
 *     │  │               │  └─permanent error / attempts used up──▶ failed
 *     │  │               └─retryable error (backoff) / lease expired / released──▶ unsent
 *     │  └─content check fails at claim──▶ invalid_content
 *     └─(created)            unsent ──DELETE──▶ cancelled
 *
 * In at-most-once mode a delivery whose outcome cannot be known (its process
 * died, or it timed out after the request left) goes processing ──▶ unknown
 * instead of back to unsent, and waits for an operator:
 *   unknown ──POST /retry──▶ unsent      unknown ──POST /give-up──▶ failed
 * (POST /retry also takes a failed message back to unsent.)
 */
export const MESSAGE_STATUSES = [
  'unsent',
  'processing',
  'sent',
  'failed',
  'invalid_content',
  'cancelled',
  'unknown',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const CONTENT_MAX_CHARS = 160;

export interface Message {
  id: string;
  webhook_response_message_id: string | null;
  content: string;
  recipient_phone_number: string;
  status: MessageStatus;
  created_at: Date;
  sent_at: Date | null;
  // additions over the original
  send_at: Date;
  /** when the next attempt is due: send_at at first, later the retry time */
  due_at: Date;
  priority: number;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
  processing_started_at: Date | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  /** Standard Webhooks `webhook-id`: the same for every attempt of this message */
  webhook_id: string;
  idempotency_key: string | null;
  /** hash of the request that created it under idempotency_key */
  request_hash: string | null;
  /**
   * W3C `traceparent` of the API request that created it, when tracing was on: its delivery
   * attempts, on any node and however much later, are spans in that trace (internal, not in the API)
   */
  trace_context: string | null;
  /** the destination it goes to; null: the built-in `default` (the config's webhook, and every older row) */
  destination_id: string | null;
  /** the messages one request fanned out to a topic's subscribers share it (null: not fanned out) */
  group_id: string | null;
  /** the topic it was sent to, when it was (null: named a destination, or none) */
  topic: string | null;
}

export interface DeliveryAttempt {
  message_id: string;
  attempt: number;
  started_at: Date;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: 'sent' | 'retry' | 'failed' | 'unknown';
  /** the destination the attempt went to (null: `default`, and attempts stored before destinations existed) */
  destination_id?: string | null;
  /** the URL it was sent to, as it was then (null in attempts stored before destinations existed) */
  url?: string | null;
  /** the node that made it (the lease owner that stored it; null in attempts stored by earlier versions) */
  node?: string | null;
}

export interface NewMessage {
  content: string;
  recipient_phone_number: string;
  send_at?: Date | undefined;
  priority?: number | undefined;
  idempotency_key?: string | null | undefined;
  request_hash?: string | null | undefined;
  trace_context?: string | null | undefined;
  destination_id?: string | null | undefined;
  group_id?: string | null | undefined;
  topic?: string | null | undefined;
  /** seeding only: rows of the original's format may already be sent */
  status?: MessageStatus | undefined;
  created_at?: Date | undefined;
  sent_at?: Date | null | undefined;
  webhook_response_message_id?: string | null | undefined;
}

/**
 * Content rule of the original, 1 to 160 characters (Unicode code points), and text every store
 * keeps (text.ts): a stored message whose content breaks it (a seed row, the original's MongoDB
 * data) becomes invalid_content, whatever the store.
 */
export function contentProblem(content: unknown): string | null {
  if (typeof content !== 'string') return 'content is not text';
  const text = textProblem(content);
  if (text) return `content ${text}`;
  const n = [...content].length;
  if (n === 0) return 'content is empty';
  if (n > CONTENT_MAX_CHARS) return `content has ${n} characters; at most ${CONTENT_MAX_CHARS} are allowed`;
  return null;
}

/**
 * C0 and C1 control characters and the line/paragraph separators, never part of a phone
 * number: a character-class body, as regular-expression source (the API schema's pattern is
 * built from it too, so the documented rule and the check are one).
 */
export const CONTROL_CHAR_CLASS = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029';
const CONTROL_CHARS = new RegExp(`[${CONTROL_CHAR_CLASS}]`, 'u');

/**
 * recipient_phone_number is free text, as the original stored it (`+905551111111`,
 * `0555 111 11 11`, `(555) 123-4567`), but not blank and without control characters.
 */
export function phoneProblem(phone: string): string | null {
  if (phone.trim() === '') return 'recipient_phone_number is empty or only whitespace';
  if (CONTROL_CHARS.test(phone)) return 'recipient_phone_number holds a control character';
  return null;
}

export function isTerminal(status: MessageStatus): boolean {
  return status === 'sent' || status === 'failed' || status === 'invalid_content' || status === 'cancelled';
}

/** The full message a store inserts for `input`, with the id and defaults set. */
export function buildMessage(input: NewMessage, id: string, webhookId: string, now: Date): Message {
  const sendAt = input.send_at ?? now;
  const status = input.status ?? 'unsent';
  return {
    id,
    webhook_response_message_id: input.webhook_response_message_id ?? null,
    content: input.content,
    recipient_phone_number: input.recipient_phone_number,
    status,
    created_at: input.created_at ?? now,
    sent_at: input.sent_at ?? null,
    send_at: sendAt,
    due_at: sendAt,
    priority: input.priority ?? 0,
    attempts: 0,
    last_error: null,
    updated_at: now,
    processing_started_at: null,
    lease_owner: null,
    lease_expires_at: null,
    webhook_id: webhookId,
    idempotency_key: input.idempotency_key ?? null,
    request_hash: input.request_hash ?? null,
    trace_context: input.trace_context ?? null,
    destination_id: input.destination_id ?? null,
    group_id: input.group_id ?? null,
    topic: input.topic ?? null,
  };
}
