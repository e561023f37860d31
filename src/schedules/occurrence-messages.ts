/**
 * The messages a schedule's occurrence makes: its template sent at the occurrence, to the
 * destination it names, or to each subscriber of its topic at that moment (a fan-out, as
 * POST /messages makes). Each carries the occurrence's idempotency key (a fan-out's others the key
 * and their destination), so making them twice, on two nodes or after a crash, stores them once.
 */
import type { NewMessage } from '../domain/message.js';
import type { Schedule } from '../domain/schedule.js';
import type { DestinationStore } from '../store/destination-store.js';
import { MAX_SUBSCRIBERS, newGroupId, subscribersOf } from '../destinations/fan-out.js';

/** Whether a destination exists (a node's registry, which reads the store for one it does not know). */
export type DestinationExists = (id: string) => Promise<boolean>;

/** Why an occurrence made no message. */
export type NoMessage = 'no_destination' | 'no_subscriber' | 'too_many_subscribers';

/** The reason in words, for the log and the API's error. */
export function noMessageText(why: NoMessage, s: Schedule): string {
  if (why === 'no_destination') return `no destination ${s.message.destination ?? ''}`;
  if (why === 'no_subscriber')
    return `no active destination subscribes to ${JSON.stringify(s.message.topic)}`;
  return `more than ${MAX_SUBSCRIBERS} destinations subscribe to ${JSON.stringify(s.message.topic)}`;
}

export interface OccurrenceTarget {
  destinations: DestinationStore;
  exists: DestinationExists;
}

/** Where the schedule's messages go now: destination ids (null: `default`), or why nowhere. */
export async function recipientsOf(
  s: Schedule,
  t: OccurrenceTarget,
): Promise<{ ids: (string | null)[]; topic: string | null } | { none: NoMessage }> {
  const { destination, topic } = s.message;
  if (topic !== null) {
    const found = await subscribersOf(t.destinations, topic);
    // more subscribers than one fan-out takes: refused, as POST /messages refuses it
    if (!('ok' in found)) return { none: 'too_many_subscribers' };
    if (found.ok.length === 0) return { none: 'no_subscriber' };
    return { ids: found.ok.map((d) => d.id), topic };
  }
  if (destination !== null && !(await t.exists(destination))) return { none: 'no_destination' };
  return { ids: [destination], topic: null };
}

/** The messages of one occurrence (`key`: its idempotency key), to `ids`. */
export function occurrenceMessages(
  s: Schedule,
  to: { ids: (string | null)[]; topic: string | null },
  key: string,
  sendAt: Date,
): NewMessage[] {
  const group = to.topic === null ? null : newGroupId();
  return to.ids.map((id, j) => ({
    content: s.message.content,
    recipient_phone_number: s.message.recipient_phone_number,
    priority: s.message.priority,
    send_at: sendAt,
    idempotency_key: j === 0 ? key : `${key}#${id ?? 'default'}`,
    request_hash: null,
    trace_context: null,
    destination_id: id,
    group_id: group,
    topic: to.topic,
  }));
}
