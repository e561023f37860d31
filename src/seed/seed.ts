import { createHash } from 'node:crypto';
import type { MessageStatus, NewMessage } from '../domain/message.js';
import { MESSAGE_STATUSES, phoneProblem } from '../domain/message.js';
import { textProblem } from '../domain/text.js';
import { isRefusedValue, refusal } from '../store/store-errors.js';
import type { CreateResult, MessageStore } from '../store/store.js';

/** Go's zero time, which the original wrote for "not sent". */
const GO_ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;
/** Longest content a seed row may carry; longer rows are refused (160+ is stored and becomes invalid_content). */
export const SEED_CONTENT_HARD_LIMIT = 4096;

export interface SeedRowError {
  index: number;
  reason: string;
}

export interface SeedReport {
  inserted: number;
  /** rows already in the store from an earlier seeding */
  skipped: number;
  errors: SeedRowError[];
}

function parseTime(value: unknown, field: string): Date | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new Error(`${field} must be an RFC 3339 string`);
  if (GO_ZERO_TIME.test(value)) return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new Error(`${field} ${JSON.stringify(value)} is not an RFC 3339 time`);
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new Error(`${field} ${JSON.stringify(value)} is not a valid time`);
  return d;
}

/** Validates one row of the original's seed format; throws with the reason. */
export function seedRowToMessage(row: unknown): NewMessage {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new Error('row is not an object');
  const r = row as Record<string, unknown>;
  if (typeof r.content !== 'string') throw new Error('content must be a string');
  if ([...r.content].length > SEED_CONTENT_HARD_LIMIT) {
    throw new Error(`content is longer than ${SEED_CONTENT_HARD_LIMIT} characters`);
  }
  if (typeof r.recipient_phone_number !== 'string' || r.recipient_phone_number.trim() === '') {
    throw new Error('recipient_phone_number must be a non-empty string');
  }
  // the phone number first: its rule (no control characters) names NUL too
  const phone = phoneProblem(r.recipient_phone_number);
  if (phone) throw new Error(phone);
  for (const field of ['content', 'recipient_phone_number', 'webhook_response_message_id'] as const) {
    const value = r[field];
    const problem = typeof value === 'string' ? textProblem(value) : null;
    if (problem) throw new Error(`${field} ${problem}`);
  }
  let status: MessageStatus = 'unsent';
  if (r.status !== undefined && r.status !== null && r.status !== '') {
    if (typeof r.status !== 'string' || !(MESSAGE_STATUSES as readonly string[]).includes(r.status)) {
      throw new Error(`status ${JSON.stringify(r.status)} is not one of ${MESSAGE_STATUSES.join(', ')}`);
    }
    // a row caught mid-delivery in the original's store is delivered again
    status = r.status === 'processing' ? 'unsent' : (r.status as MessageStatus);
  }
  const createdAt = parseTime(r.created_at, 'created_at');
  const sentAt = parseTime(r.sent_at, 'sent_at');
  if (status === 'sent' && !sentAt) throw new Error('status is sent but sent_at is missing or zero');
  const responseId = r.webhook_response_message_id;
  if (responseId !== undefined && responseId !== null && typeof responseId !== 'string') {
    throw new Error('webhook_response_message_id must be a string or null');
  }
  const canonical = JSON.stringify([
    r.content,
    r.recipient_phone_number,
    status,
    createdAt?.toISOString() ?? null,
    sentAt?.toISOString() ?? null,
    responseId ?? null,
  ]);
  const key = 'seed:' + createHash('sha256').update(canonical).digest('hex');
  return {
    content: r.content,
    recipient_phone_number: r.recipient_phone_number,
    status,
    created_at: createdAt ?? undefined,
    send_at: createdAt ?? undefined,
    sent_at: status === 'sent' ? sentAt : null,
    webhook_response_message_id: typeof responseId === 'string' && responseId !== '' ? responseId : null,
    idempotency_key: key,
    request_hash: key,
  };
}

/**
 * Seeds rows of the original's format. Each row has a key derived from its
 * content, so seeding twice inserts nothing the second time. A bad row is
 * reported with its index and reason; the good rows still go in.
 */
export async function seedMessages(
  store: MessageStore,
  rows: unknown,
  now = new Date(),
): Promise<SeedReport> {
  if (!Array.isArray(rows))
    return { inserted: 0, skipped: 0, errors: [{ index: -1, reason: 'seed file must hold a JSON array' }] };
  const errors: SeedRowError[] = [];
  const good: NewMessage[] = [];
  /** the file index of each good row */
  const goodIndex: number[] = [];
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    try {
      const m = seedRowToMessage(row);
      if (seen.has(m.idempotency_key ?? '')) throw new Error('duplicate of an earlier row in this file');
      seen.add(m.idempotency_key ?? '');
      good.push(m);
      goodIndex.push(index);
    } catch (err) {
      errors.push({ index, reason: (err as Error).message });
    }
  });
  let inserted = 0;
  let skipped = 0;
  const count = (results: CreateResult[]): void => {
    for (const r of results)
      if (r.created) inserted++;
      else skipped++;
  };
  for (let i = 0; i < good.length; i += 1000) {
    const chunk = good.slice(i, i + 1000);
    try {
      count(await store.create(chunk, now));
    } catch (err) {
      if (!isRefusedValue(err)) throw err;
      // a row the store refuses (a value no check above foresaw): the chunk row by row, so
      // that row alone is reported and the others still go in
      for (let j = 0; j < chunk.length; j++) {
        try {
          count(await store.create([chunk[j] as NewMessage], now));
        } catch (rowErr) {
          if (!isRefusedValue(rowErr)) throw rowErr;
          errors.push({
            index: goodIndex[i + j] ?? -1,
            reason: `the store refused the row: ${refusal(rowErr)}`,
          });
        }
      }
    }
  }
  errors.sort((a, b) => a.index - b.index);
  return { inserted, skipped, errors };
}
