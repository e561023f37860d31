import type { DeliveryAttempt } from '../domain/message.js';
import { contentProblem } from '../domain/message.js';
import type { Deliverer } from '../delivery/webhook-client.js';
import type { Logger } from '../logging/logger.js';
import type { ClaimedMessage, MessageStore, Outcome } from '../store/store.js';
import type { FailureLog } from './failure-log.js';
import type { PoolTracer } from './pool-tracer.js';
import { decide, storableResult, type OutcomePolicy } from './outcome.js';
import type { DeliveryResult } from '../delivery/webhook-client.js';
import type { Verdict } from '../destinations/circuit-breaker.js';
import type { Routing } from './routing.js';

/** What one delivery attempt needs from its pool. */
export interface AttemptContext {
  deliverer: Deliverer;
  tracer: PoolTracer | undefined;
  log: Logger;
  /** a warn line per retry, failure and refused message, rate-limited */
  failures: FailureLog;
  policy: OutcomePolicy;
  now: () => number;
  /** where each message goes (routing.ts) */
  routing: Routing;
}

/** What an attempt's answer tells of its destination's health (null: no request was sent). */
export interface Answer {
  verdict: Verdict;
  retryAfterMs: number | null;
  error: string | null;
}

/** 2xx: ok; 429 and 503: slow down; any other answer, or none: a failure. */
export function answerOf(result: DeliveryResult): Answer {
  switch (result.kind) {
    case 'delivered':
      return { verdict: 'ok', retryAfterMs: null, error: null };
    case 'retryable':
      return result.statusCode === 429 || result.statusCode === 503
        ? { verdict: 'slow', retryAfterMs: result.retryAfterMs, error: result.error }
        : { verdict: 'fail', retryAfterMs: null, error: result.error };
    case 'permanent':
      return { verdict: 'fail', retryAfterMs: null, error: result.error };
  }
}

/**
 * One delivery attempt of a claimed message: its content checked, the request sent (and traced),
 * the answer turned into an outcome and an attempt row, and what happened logged (each step at
 * debug level; a retry, a failure and invalid content at warn, rate-limited).
 */
export async function runAttempt(
  message: ClaimedMessage,
  ctx: AttemptContext,
): Promise<{ outcome: Outcome; attempt: DeliveryAttempt | null; answer: Answer | null }> {
  // a child logger per message only when someone reads debug lines: it is not free
  const problem = contentProblem(message.content);
  if (problem) {
    ctx.failures.note(
      'invalid_content',
      { message_id: message.id, webhook_id: message.webhook_id, reason: problem },
      'message not sent: invalid content',
    );
    return { outcome: { kind: 'invalid_content', reason: problem }, attempt: null, answer: null };
  }
  const routed = ctx.routing.route(message, ctx.now());
  const route = routed instanceof Promise ? await routed : routed;
  if (route.kind !== 'deliver') {
    // no request: not an attempt (attempts stay as they were)
    ctx.log.debug(
      { message_id: message.id, destination: message.destination_id, reason: route.reason },
      'not sent',
    );
    return route.kind === 'hold'
      ? {
          outcome: { kind: 'retry', error: route.reason, dueAt: new Date(ctx.now()) },
          attempt: null,
          answer: null,
        }
      : { outcome: { kind: 'failed', error: route.reason }, attempt: null, answer: null };
  }
  const attemptNo = message.attempts + 1;
  const span = ctx.tracer?.attempt(message, attemptNo, route.target?.url);
  // the debug lines' objects are built only when someone reads them: a few hundred bytes a message
  const debug = ctx.log.isLevelEnabled('debug');
  const log = debug
    ? ctx.log.child({ message_id: message.id, webhook_id: message.webhook_id, ...span?.logIds })
    : ctx.log;
  const startedAt = ctx.now();
  if (debug) log.debug({ attempt: attemptNo }, 'delivering');
  const result = storableResult(
    await ctx.deliverer.deliver({
      webhookId: message.webhook_id,
      to: message.recipient_phone_number,
      content: message.content,
      // always present, so every request object has one shape
      traceparent: span?.traceparent,
      target: route.target,
    }),
  );
  const finished = ctx.now();
  const policy = route.retry === ctx.policy.retry ? ctx.policy : { ...ctx.policy, retry: route.retry };
  let outcome = decide(result, attemptNo, finished, policy);
  if (
    outcome.kind === 'retry' &&
    route.maxAgeMs !== null &&
    outcome.dueAt.getTime() - message.created_at.getTime() > route.maxAgeMs
  ) {
    outcome = { kind: 'failed', error: `${outcome.error} (retry.max_age passed: no more attempts)` };
  }
  span?.end(result, outcome.kind);
  const attempt: DeliveryAttempt = {
    message_id: message.id,
    attempt: attemptNo,
    started_at: new Date(startedAt),
    latency_ms: finished - startedAt,
    status_code: result.statusCode,
    error: result.kind === 'delivered' ? result.warning : result.error,
    outcome:
      outcome.kind === 'sent' || outcome.kind === 'retry' || outcome.kind === 'unknown'
        ? outcome.kind
        : 'failed',
    destination_id: message.destination_id,
    url: route.url,
  };
  if (result.kind === 'delivered' && result.warning)
    // a child logger already carries the trace ids
    log.warn(
      { status_code: result.statusCode, ...(log === ctx.log ? span?.logIds : undefined) },
      result.warning,
    );
  if (debug)
    log.debug(
      {
        attempt: attemptNo,
        outcome: outcome.kind,
        status_code: result.statusCode,
        latency_ms: attempt.latency_ms,
        ...(outcome.kind === 'retry' ? { retry_at: outcome.dueAt.toISOString(), error: outcome.error } : {}),
        ...(outcome.kind === 'failed' ? { error: outcome.error } : {}),
      },
      'delivery attempt finished',
    );
  if (outcome.kind === 'retry' || outcome.kind === 'failed') {
    ctx.failures.note(
      outcome.kind,
      {
        message_id: message.id,
        attempt: attemptNo,
        status_code: result.statusCode,
        error: outcome.error,
        ...(outcome.kind === 'retry' ? { retry_at: outcome.dueAt.toISOString() } : {}),
      },
      outcome.kind === 'retry' ? 'delivery failed; will retry' : 'delivery failed; no more attempts',
    );
  }
  return { outcome, attempt, answer: answerOf(result) };
}

/**
 * Deliveries still in flight when shutdown's timeout ran out. At least once: their leases are
 * given back (sent again later, same webhook-id). At most once: their requests are out, so
 * sending them again could deliver twice: they become unknown, for an operator. Returns how many
 * were given back.
 */
export async function settleUnfinished(
  store: Pick<MessageStore, 'complete' | 'release'>,
  o: { owner: string; ids: string[]; atMostOnce: boolean; at: Date; log: Logger },
): Promise<number> {
  if (o.ids.length === 0) return 0;
  if (o.atMostOnce) {
    const applied = await store.complete(
      o.ids.map((id) => ({
        id,
        owner: o.owner,
        outcome: { kind: 'unknown', error: 'outcome unknown: shut down before the receiver answered' },
        attempt: null,
      })),
      o.at,
    );
    o.log.warn({ unknown: applied.length }, 'deliveries that did not finish in time are now unknown');
    return 0;
  }
  const released = await store.release(o.owner, o.ids, o.at);
  o.log.warn({ released }, 'released deliveries that did not finish in time');
  return released;
}
