/**
 * Who a message goes to: the destination it names, or every destination subscribed to its topic
 * (a fan-out: one message each, sharing a group id). Subscribers are read from the store, not from
 * a node's copy, so a destination made a moment ago on another node is not missed.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_DESTINATION_ID, type Destination } from '../domain/destination.js';
import type { DestinationStore } from '../store/destination-store.js';

/** Subscribers of one topic at most: a fan-out is one transaction. */
export const MAX_SUBSCRIBERS = 1000;
const PAGE = 500;

/** A fan-out's group id: `grp_` and 16 hex digits. */
export function newGroupId(): string {
  return `grp_${randomBytes(8).toString('hex')}`;
}

export type TopicSubscribers = { ok: Destination[] } | { tooMany: true };

/**
 * The destinations a message sent to `topic` goes to, by id: the active ones and the paused ones
 * (their messages wait for resume, as any of theirs), not the disabled ones.
 */
export async function subscribersOf(store: DestinationStore, topic: string): Promise<TopicSubscribers> {
  const out: Destination[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listDestinations({ topic, limit: PAGE, ...(after ? { after } : {}) });
    for (const d of page) if (d.status !== 'disabled') out.push(d);
    if (out.length > MAX_SUBSCRIBERS) return { tooMany: true };
    if (page.length < PAGE) return { ok: out };
    after = page[page.length - 1]?.id;
  }
}

/** The stored form of a named destination: null for `default` (as every message older than destinations). */
export function storedDestination(id: string | undefined): string | null {
  return id === undefined || id === DEFAULT_DESTINATION_ID ? null : id;
}
