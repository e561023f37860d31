import type { DeliveryResult } from '../delivery/webhook-client.js';
import type { ClaimedMessage, Outcome } from '../store/store.js';

/**
 * What the worker pool asks of tracing (src/tracing/tracing.ts implements it): a span per
 * delivery attempt and per claim round. Absent, the pool makes none and pays nothing.
 */
export interface PoolTracer {
  /** `url`: the destination's, for a message to one other than `default` */
  attempt(message: ClaimedMessage, attempt: number, url?: string | null): AttemptTrace;
  /**
   * A claim round that is over, from `startedMs` to now: only rounds that claimed or stored
   * something, or failed, become spans (an idle pool's empty polls would drown the rest).
   */
  round(startedMs: number, claimed: number, stored: number, err?: unknown): void;
}

export interface AttemptTrace {
  /** the webhook request's W3C `traceparent`, so the receiver's trace continues this one */
  readonly traceparent: string;
  /** trace_id and span_id, for the attempt's log lines */
  readonly logIds: Readonly<Record<string, string>>;
  end(result: DeliveryResult, outcome: Outcome['kind']): void;
}
