import type { MessageStatus } from '../domain/message.js';
import type { ListQuery, MessageStore } from '../store/store.js';

/** The statuses a bulk retry takes back to unsent (as POST /messages/{id}/retry). */
export const BULK_RETRY_STATUSES = ['failed', 'unknown'] as const satisfies readonly MessageStatus[];
export type BulkRetryStatus = (typeof BULK_RETRY_STATUSES)[number];

/** Which messages: those of the statuses that match every filter given. */
export interface BulkRetryFilter {
  statuses: readonly BulkRetryStatus[];
  destination?: string | undefined;
  group?: string | undefined;
  recipient?: string | undefined;
  /** created at or after */
  since?: Date | undefined;
  /** created before */
  before?: Date | undefined;
}

export interface BulkRetryResult {
  /** how many matched (at most `max`) */
  matched: number;
  /** how many went back to unsent (0 in a dry run; fewer than matched when some changed meanwhile) */
  retried: number;
  /** more than `max` matched: run it again for the rest */
  more: boolean;
}

/** Messages read, and retried, per step: one page of the list, then its retries. */
const PAGE = 500;

/**
 * Retries the failed or unknown messages that match a filter, newest first, at most `max` (a dry
 * run only counts them). Read page by page from the lists' indexes; each message is retried on
 * its own conditional update (resolve), so one that changed meanwhile (retried by someone else) is
 * left as it is. Retried messages leave the list they were read from; the next page starts after
 * the last one read, so none is read twice.
 */
export async function bulkRetry(
  store: Pick<MessageStore, 'list' | 'resolve'>,
  filter: BulkRetryFilter,
  o: { dryRun: boolean; max: number; now: () => Date },
): Promise<BulkRetryResult> {
  let matched = 0;
  let retried = 0;
  for (const status of filter.statuses) {
    let after: ListQuery['after'] = filter.before ? { at: filter.before, id: '' } : undefined;
    for (;;) {
      const room = o.max - matched;
      // one more than there is room for: whether more match
      const page = await store.list({
        order: 'created',
        status,
        destination: filter.destination,
        group: filter.group,
        recipient: filter.recipient,
        since: filter.since,
        after,
        limit: Math.min(PAGE, room + 1),
      });
      const take = page.items.slice(0, room);
      if (page.items.length > room)
        return { matched: matched + take.length, retried: retried + (await retry(take)), more: true };
      matched += take.length;
      retried += await retry(take);
      if (!page.next) break;
      after = page.next;
    }
  }
  return { matched, retried, more: false };

  async function retry(items: readonly { id: string }[]): Promise<number> {
    if (o.dryRun) return 0;
    const now = o.now();
    const results = await Promise.all(items.map((m) => store.resolve(m.id, 'retry', now)));
    return results.filter((r) => r.result === 'done').length;
  }
}
