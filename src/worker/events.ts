import { EventEmitter } from 'node:events';
import type { DeliveryAttempt } from '../domain/message.js';
import type { ClaimedMessage, Outcome } from '../store/store.js';

/**
 * Delivery outcomes as events, so metrics, tracing and the cache observe the
 * pool without the pool knowing them.
 */
export interface OutcomeEvent {
  message: ClaimedMessage;
  outcome: Outcome;
  attempt: DeliveryAttempt | null;
  /** false when the lease was lost before the outcome was stored (another node owns it now) */
  applied: boolean;
}

export interface PoolEventMap {
  outcome: [OutcomeEvent];
  claimed: [ClaimedMessage[]];
  state: ['running' | 'paused'];
  /**
   * A round failed (the store did not answer) and will be retried. Not named
   * 'error': an EventEmitter throws an 'error' nobody listens to, and a store
   * outage must not take the process down.
   */
  roundFailed: [Error];
}

export class PoolEvents extends EventEmitter<PoolEventMap> {}
