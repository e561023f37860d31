import type { DeliveryResult } from '../delivery/webhook-client.js';
import { backoffMs, type RetryPolicy } from '../delivery/retry-policy.js';
import type { Outcome } from '../store/store.js';
import { storableOrNull, storableText, textProblem } from '../domain/text.js';

/**
 * How many claimed messages the pool keeps ready beyond its busy slots, and how
 * many a round waits to be able to claim while deliveries run. At most once, a
 * claimed message whose holder dies becomes unknown: nothing is claimed that
 * does not start at once, and rounds take a quarter of the slots. An embedded
 * store (SQLite) keeps twice the slots ready and claims a full slots' worth per
 * round: its cost is mostly per write transaction (about ten claimed messages'
 * worth) and there is no round trip to hide. A server store keeps the slots'
 * worth ready and claims half of it per round, two rounds at once.
 */
export function roundSizing(
  numWorkers: number,
  embedded: boolean,
  atMostOnce: boolean,
  prefetch?: number,
): { prefetch: number; minClaim: number } {
  const ready = prefetch ?? (atMostOnce ? 0 : embedded ? 2 * numWorkers : numWorkers);
  const per = ready === 0 ? numWorkers / 4 : embedded ? numWorkers : numWorkers / 2;
  return { prefetch: ready, minClaim: Math.max(1, Math.floor(per)) };
}

/** What decides a delivery's outcome besides its result. */
export interface OutcomePolicy {
  retry: RetryPolicy;
  /** a result that may have reached the receiver becomes `unknown`, never sent again by itself */
  atMostOnce: boolean;
  random: () => number;
}

/** The outcome to store for attempt `attemptNo` of a message, which ended at `now` with `result`. */
export function decide(result: DeliveryResult, attemptNo: number, now: number, p: OutcomePolicy): Outcome {
  switch (result.kind) {
    case 'delivered':
      return { kind: 'sent', webhookResponseMessageId: result.responseMessageId, sentAt: new Date(now) };
    case 'permanent':
      return { kind: 'failed', error: result.error };
    case 'retryable':
      if (p.atMostOnce && result.maybeDelivered) {
        return { kind: 'unknown', error: `outcome unknown: ${result.error}` };
      }
      if (attemptNo >= p.retry.maxAttempts) {
        return { kind: 'failed', error: `${result.error} (after ${attemptNo} attempts)` };
      }
      return {
        kind: 'retry',
        error: result.error,
        dueAt: new Date(now + backoffMs(p.retry, attemptNo, result.retryAfterMs, p.random)),
      };
  }
}

/**
 * A deliverer's result with text every store keeps (domain/text.ts): an error or warning made
 * storable, a receiver id that is not dropped. The webhook client already answers so; this holds
 * for any deliverer, since one text a store refuses would otherwise make its whole outcome batch fail.
 */
export function storableResult(result: DeliveryResult): DeliveryResult {
  switch (result.kind) {
    case 'delivered': {
      const id = result.responseMessageId;
      if (id !== null && textProblem(id) !== null) {
        return {
          ...result,
          responseMessageId: null,
          warning: `receiver answered 2xx with a messageId that ${textProblem(id) ?? ''}`,
        };
      }
      return result.warning === null || textProblem(result.warning) === null
        ? result
        : { ...result, warning: storableOrNull(result.warning) };
    }
    case 'retryable':
    case 'permanent':
      return textProblem(result.error) === null ? result : { ...result, error: storableText(result.error) };
  }
}
