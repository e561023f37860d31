import type { DeliveryAttempt, Message } from '../domain/message.js';
import { contentProblem } from '../domain/message.js';
import type { Deliverer, DeliveryResult } from '../delivery/webhook-client.js';
import { backoffMs, type RetryPolicy } from '../delivery/retry-policy.js';
import type { Logger } from '../logging/logger.js';
import type { Completion, MessageStore, Outcome } from '../store/store.js';
import type { RateLimiter } from './rate-limiter.js';
import { PoolEvents } from './events.js';

export type PoolState = 'running' | 'paused';

export interface WorkerPoolOptions {
  store: Pick<MessageStore, 'claim' | 'complete' | 'recoverExpired' | 'release' | 'nextDueAt'>;
  deliverer: Deliverer;
  limiter: RateLimiter;
  retry: RetryPolicy;
  /** this node's identity: the lease owner */
  owner: string;
  numWorkers: number;
  leaseMs: number;
  /** longest idle sleep */
  pollIntervalMs: number;
  initialState: PoolState;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

/** Waits for `p` at most `ms`; leaves no timer behind. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

const RECOVER_EVERY_MS = 5000;
const STORE_ERROR_BACKOFF_MS = 1000;

/**
 * Claims due messages and delivers them, `numWorkers` at a time. One
 * dispatcher loop claims in batches (bounded by free slots and rate-limit
 * tokens, so nothing is claimed that cannot be sent now) and completions are
 * written in batches. All I/O is injected, and `tick()` runs one round, so
 * tests drive it without timers.
 */
export class WorkerPool {
  readonly events = new PoolEvents();
  private state: PoolState;
  private readonly inFlight = new Map<string, Promise<void>>();
  private pending: { completion: Completion; message: Message }[] = [];
  private flushing: Promise<void> | null = null;
  private stopped = true;
  /** set by stop(): no more claims */
  private closing = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private lastRecover = 0;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly minClaim: number;
  private flushScheduled = false;

  constructor(private readonly o: WorkerPoolOptions) {
    this.state = o.initialState;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.log = o.logger.child({ component: 'worker-pool', node: o.owner });
    this.minClaim = Math.max(1, Math.floor(o.numWorkers / 4));
  }

  getState(): PoolState {
    return this.state;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Pause stops claiming at once; in-flight deliveries finish. */
  pause(): void {
    if (this.state === 'paused') return;
    this.state = 'paused';
    this.log.info('worker pool paused');
    this.events.emit('state', 'paused');
  }

  resume(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.log.info('worker pool running');
    this.events.emit('state', 'running');
    this.notify();
  }

  /** Wakes the dispatcher (new messages arrived, a slot freed). */
  notify(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let waitMs = this.o.pollIntervalMs;
      try {
        waitMs = await this.tickAndPlan();
      } catch (err) {
        this.log.error({ err }, 'worker pool round failed; retrying');
        this.events.emit('error', err as Error);
        waitMs = STORE_ERROR_BACKOFF_MS;
      }
      if (this.stopped) break;
      if (waitMs > 0) await this.sleep(waitMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One round, then how long to sleep before the next (0 = go again now). */
  private async tickAndPlan(): Promise<number> {
    const claimed = await this.tick();
    if (this.state === 'paused') return this.o.pollIntervalMs;
    const free = this.o.numWorkers - this.inFlight.size;
    // a finishing delivery wakes us
    if (free <= 0 || (free < this.minClaim && this.inFlight.size > 0)) return this.o.pollIntervalMs;
    if (claimed > 0) return 0;
    const tokenWait = this.o.limiter.msUntilToken(this.now());
    if (tokenWait > 0) return Math.min(tokenWait, this.o.pollIntervalMs);
    const next = await this.o.store.nextDueAt();
    if (!next) return this.o.pollIntervalMs;
    return Math.max(0, Math.min(next.getTime() - this.now(), this.o.pollIntervalMs));
  }

  /** Recovers expired leases now and then, claims what it can send now, starts deliveries. */
  async tick(): Promise<number> {
    const now = this.now();
    if (now - this.lastRecover >= RECOVER_EVERY_MS) {
      this.lastRecover = now;
      const recovered = await this.o.store.recoverExpired(new Date(now));
      if (recovered > 0) this.log.warn({ recovered }, 'recovered messages whose lease expired');
    }
    if (this.state !== 'running' || this.closing) return 0;
    const free = this.o.numWorkers - this.inFlight.size;
    // claim in batches: while deliveries are running, wait until a quarter of the slots
    // are free, so one claim round trip serves many messages
    if (free <= 0 || (free < this.minClaim && this.inFlight.size > 0)) return 0;
    const tokens = this.o.limiter.take(free, now);
    if (tokens <= 0) return 0;
    let messages: Message[];
    try {
      messages = await this.o.store.claim({
        owner: this.o.owner,
        limit: tokens,
        now: new Date(now),
        leaseMs: this.o.leaseMs,
      });
    } catch (err) {
      this.o.limiter.giveBack(tokens);
      throw err;
    }
    if (messages.length < tokens) this.o.limiter.giveBack(tokens - messages.length);
    if (messages.length > 0) {
      this.events.emit('claimed', messages);
      for (const m of messages) this.launch(m);
    }
    return messages.length;
  }

  private launch(message: Message): void {
    const p = this.deliver(message)
      .catch((err: unknown) => this.log.error({ err, message_id: message.id }, 'delivery crashed'))
      .finally(() => {
        this.inFlight.delete(message.id);
        this.notify();
      });
    this.inFlight.set(message.id, p);
  }

  private async deliver(message: Message): Promise<void> {
    // a child logger per message only when someone reads debug lines: it is not free
    const log = this.log.isLevelEnabled('debug')
      ? this.log.child({ message_id: message.id, webhook_id: message.webhook_id })
      : this.log;
    const problem = contentProblem(message.content);
    if (problem) {
      log.debug({ reason: problem }, 'message not sent: invalid content');
      this.queue(message, { kind: 'invalid_content', reason: problem }, null);
      return;
    }
    const startedAt = this.now();
    log.debug({ attempt: message.attempts + 1 }, 'delivering');
    const result = await this.o.deliverer.deliver({
      webhookId: message.webhook_id,
      to: message.recipient_phone_number,
      content: message.content,
    });
    const finished = this.now();
    const attemptNo = message.attempts + 1;
    const outcome = this.decide(result, attemptNo, finished);
    const attempt: DeliveryAttempt = {
      message_id: message.id,
      attempt: attemptNo,
      started_at: new Date(startedAt),
      latency_ms: finished - startedAt,
      status_code: result.statusCode,
      error: result.kind === 'delivered' ? result.warning : result.error,
      outcome: outcome.kind === 'sent' ? 'sent' : outcome.kind === 'retry' ? 'retry' : 'failed',
    };
    if (result.kind === 'delivered' && result.warning)
      log.warn({ status_code: result.statusCode }, result.warning);
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
    this.queue(message, outcome, attempt);
  }

  private decide(result: DeliveryResult, attemptNo: number, now: number): Outcome {
    switch (result.kind) {
      case 'delivered':
        return { kind: 'sent', webhookResponseMessageId: result.responseMessageId, sentAt: new Date(now) };
      case 'permanent':
        return { kind: 'failed', error: result.error };
      case 'retryable':
        if (attemptNo >= this.o.retry.maxAttempts) {
          return { kind: 'failed', error: `${result.error} (after ${attemptNo} attempts)` };
        }
        return {
          kind: 'retry',
          error: result.error,
          dueAt: new Date(now + backoffMs(this.o.retry, attemptNo, result.retryAfterMs, this.random)),
        };
    }
  }

  private queue(message: Message, outcome: Outcome, attempt: DeliveryAttempt | null): void {
    this.pending.push({ message, completion: { id: message.id, owner: this.o.owner, outcome, attempt } });
    // outcomes that arrive in the same turn of the event loop are written in one batch
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Writes queued completions in one batch; a batch in progress is followed by the next. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    this.flushing = (async () => {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          const applied = new Set(
            await this.o.store.complete(
              batch.map((b) => b.completion),
              new Date(this.now()),
            ),
          );
          for (const b of batch) {
            const ok = applied.has(b.message.id);
            if (!ok) this.log.warn({ message_id: b.message.id }, 'outcome not stored: the lease was lost');
            this.events.emit('outcome', {
              message: b.message,
              outcome: b.completion.outcome,
              attempt: b.completion.attempt,
              applied: ok,
            });
          }
        } catch (err) {
          // keep them: the store may be back soon; the leases protect against double work meanwhile
          this.pending = batch.concat(this.pending);
          this.log.error({ err, count: batch.length }, 'could not store delivery outcomes; retrying');
          if (this.closing && this.inFlight.size === 0) break;
          await new Promise((r) => setTimeout(r, STORE_ERROR_BACKOFF_MS));
        }
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /**
   * Stops claiming, lets in-flight deliveries finish within `timeoutMs`, stores
   * their outcomes, and gives back the leases of what did not finish.
   */
  async stop(timeoutMs: number): Promise<{ finished: number; released: number }> {
    this.closing = true;
    this.stopped = true;
    this.notify();
    await this.loop;
    const waiting = [...this.inFlight.keys()];
    await within(Promise.all(this.inFlight.values()), timeoutMs);
    const unfinished = [...this.inFlight.keys()];
    await within(this.flush(), Math.max(timeoutMs, 1000));
    let released = 0;
    if (unfinished.length > 0) {
      released = await this.o.store.release(this.o.owner, unfinished, new Date(this.now()));
      this.log.warn({ released }, 'released deliveries that did not finish in time');
    }
    return { finished: waiting.length - unfinished.length, released };
  }
}
