import type { DeliveryAttempt } from '../domain/message.js';
import { clockWithNow, systemClock, within, type Clock } from '../domain/clock.js';
import type { Logger } from '../logging/logger.js';
import type { ClaimedMessage, CompleteAndClaim, Outcome } from '../store/store.js';
import type { FlowControl, RoundPlan } from '../destinations/flow-control.js';
import { isRefusedValue } from '../store/store-errors.js';
import { DEFAULT_DESTINATION } from '../ratelimit/delivery-limiter.js';
import { FailureLog } from './failure-log.js';
import { runAttempt, settleUnfinished, type AttemptContext } from './attempt.js';
import { PoolEvents } from './events.js';
import { OutcomeReport } from './outcome-report.js';
import { Routing } from './routing.js';
import { roundSizing, type OutcomePolicy } from './outcome.js';
import { OutcomeBuffer } from './outcome-buffer.js';
import type { PoolCounts, PoolLifecycle, PoolState, WorkerPoolOptions } from './pool-options.js';

export type { PoolCounts, PoolLifecycle, PoolState, WorkerPoolOptions } from './pool-options.js';

const RECOVER_EVERY_MS = 5000;
/**
 * Outcomes wait at most this long to be stored. Usually the next claim round
 * stores them sooner, in the same transaction as the claim.
 */
const FLUSH_AFTER_MS = 10;
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
  /** outcomes not yet stored (outcome-buffer.ts) */
  private readonly outcomes: OutcomeBuffer;
  private readonly policy: OutcomePolicy;
  private lifecycle: PoolLifecycle = 'idle';
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private lastRecover = 0;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  /** a warn line per retry, failure and refused message, rate-limited (failure-log.ts) */
  private readonly failures: FailureLog;
  /** what each delivery attempt needs (attempt.ts) */
  private readonly attempts: AttemptContext;
  private readonly minClaim: number;
  /** claimed messages waiting for a free slot, so a finished delivery is followed at once */
  private ready: ClaimedMessage[] = [];
  /** claimed ahead of their due time (pool.claimAhead), soonest first: started when due */
  private early: ClaimedMessage[] = [];
  private earlyTimer: unknown = null;
  /** how far ahead of its due time `default`'s messages are claimed (0: when due) */
  private readonly claimAheadMs: number;
  private readonly prefetch: number;
  /**
   * Deliveries sent or being sent whose outcome is not yet stored (in flight,
   * queued, being written) never exceed this: what a crash can repeat. A store
   * slower than the receiver holds deliveries back instead of piling up outcomes.
   */
  private readonly maxUnrecorded: number;
  /** claim rounds at once: a round trip to a server store overlaps the next */
  private readonly maxRounds: number;
  private readonly rounds = new Set<Promise<void>>();
  /** messages asked for by the rounds in flight */
  private claimingTokens = 0;
  /** the last round found fewer due messages than it asked for */
  private drained = false;
  /** the dispatcher waits for a round in flight to end (waitForRounds) */
  private roundsAwaited = false;
  /** a notify() that came while the dispatcher was not asleep */
  private woken = false;
  /** after a failed round: no new round before this time */
  private backoffUntil = 0;
  /** set after a failed round: give back leases we hold without knowing it */
  private reconcile = false;
  /** the fence generation last seen (see WorkerPoolOptions.fence) */
  private fenceGeneration = 0;
  /** the rate limiter's key: the one destination there is today */
  private readonly destination = DEFAULT_DESTINATION;
  /** what the pool has done, told to the listeners of `events` (outcome-report.ts) */
  private readonly report: OutcomeReport;
  /** each destination's share of a round, when there are destinations (destinations/flow-control.ts) */
  readonly flow: FlowControl | undefined;

  constructor(private readonly o: WorkerPoolOptions) {
    this.state = o.initialState;
    this.clock = o.clock ?? (o.now ? clockWithNow(o.now) : systemClock);
    this.now = () => this.clock.now();
    this.random = o.random ?? Math.random;
    this.log = o.logger.child({ component: 'worker-pool', node: o.owner });
    this.failures = new FailureLog(this.log, () => this.now());
    this.report = new OutcomeReport(this.events, this.log);
    ({ prefetch: this.prefetch, minClaim: this.minClaim } = roundSizing(
      o.numWorkers,
      o.store.embedded,
      o.atMostOnce ?? false,
      o.prefetch,
    ));
    this.maxUnrecorded = 2 * o.numWorkers;
    this.maxRounds = Math.max(1, o.concurrentRounds ?? 2);
    this.claimAheadMs = o.atMostOnce ? 0 : Math.max(0, o.claimAheadMs ?? 0);
    this.flow = o.flow;
    this.policy = { retry: o.retry, atMostOnce: o.atMostOnce ?? false, random: this.random };
    this.attempts = {
      deliverer: o.deliverer,
      tracer: o.tracer,
      log: this.log,
      failures: this.failures,
      policy: this.policy,
      now: this.now,
      routing: new Routing(o.destinations, o.retry, (id, now) => o.flow?.blocks(id, now) ?? false),
    };
    this.outcomes = new OutcomeBuffer({
      store: o.store,
      clock: this.clock,
      logger: this.log,
      onStored: (batch, applied) => {
        this.report.stored(batch, applied);
        this.startReady();
      },
      giveUp: () => this.closing && this.inFlight.size === 0,
      flushAfterMs: FLUSH_AFTER_MS,
      retryAfterMs: STORE_ERROR_BACKOFF_MS,
    });
  }

  getState(): PoolState {
    return this.state;
  }

  /** Where the pool is in its own life (see PoolLifecycle). */
  get phase(): PoolLifecycle {
    return this.lifecycle;
  }

  /** stop() began: no new claim, no new delivery. */
  private get closing(): boolean {
    return this.lifecycle === 'closing' || this.lifecycle === 'stopped';
  }

  stats(): PoolCounts {
    return this.report.stats();
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
    // the dispatcher gives back what it claimed but has not started
    this.notify();
  }

  resume(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.log.info('worker pool running');
    this.events.emit('state', 'running');
    this.notify();
  }

  /** New messages may be due (created here or on another node): every lane is worth a claim again. */
  wake(): void {
    this.flow?.fresh();
    this.notify();
  }

  /** Wakes the dispatcher (new messages arrived, a slot freed, a round ended). */
  notify(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.woken = true;
  }

  /** Starts the dispatcher (once; not after stop()). */
  start(): void {
    if (this.lifecycle !== 'idle') return;
    this.lifecycle = 'running';
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.lifecycle === 'running') {
      let waitMs = this.o.pollIntervalMs;
      try {
        waitMs = await this.plan();
      } catch (err) {
        this.roundFailed(err);
        waitMs = STORE_ERROR_BACKOFF_MS;
      }
      if (this.lifecycle !== 'running') break;
      if (waitMs > 0) await this.sleep(waitMs);
      // a synchronous store (SQLite) resolves rounds in microtasks: let I/O run between steps
      else await new Promise((r) => setImmediate(r));
    }
  }

  private roundFailed(err: unknown): void {
    this.log.error({ err }, 'worker pool round failed; retrying');
    // the failed round may have claimed messages without our hearing of it
    this.reconcile = true;
    this.backoffUntil = this.now() + STORE_ERROR_BACKOFF_MS;
    this.events.emit('roundFailed', err as Error);
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        this.clock.clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * The dispatcher's step: housekeeping, then a claim round started in the
   * background (up to `maxRounds` at once). Returns how long to sleep; a
   * finishing round or delivery wakes it sooner.
   */
  private async plan(): Promise<number> {
    const now = this.now();
    if (now < this.backoffUntil) return this.backoffUntil - now;
    await this.housekeeping(now);
    if (this.state !== 'running' || this.closing || this.isFenced()) return this.o.pollIntervalMs;
    if (this.drained) {
      this.drained = false;
      // nothing more was due: sleep until the next message is (by lanes: until a lane may claim)
      if (this.rounds.size === 0)
        return this.flow?.active
          ? Math.min(this.flow.wakeIn(now), this.o.pollIntervalMs)
          : this.untilDue(now);
      // another round is still out (a server store's overlap): wait for it, then decide
      return this.waitForRounds();
    }
    if (this.rounds.size >= this.maxRounds) return this.waitForRounds();
    if (!this.worthClaiming()) return this.rounds.size > 0 ? this.waitForRounds() : this.o.pollIntervalMs;
    const grant = await this.o.limiter.take(this.destination, this.room(), now);
    const tokens = grant.tokens;
    if (tokens <= 0) return Math.max(1, Math.min(grant.waitMs, this.o.pollIntervalMs));
    const lanes = await this.lanes(tokens);
    if (lanes === 'none') return Math.max(1, Math.min(this.flow?.wakeIn(now) ?? 0, this.o.pollIntervalMs));
    const round: Promise<void> = this.round(tokens, now, lanes).then(
      // room for another round may have opened while this one was out; not when the store ran dry
      () => (this.drained ? undefined : this.notify()),
      (err: unknown) => this.roundFailed(err),
    );
    this.rounds.add(round);
    void round.finally(() => {
      this.rounds.delete(round);
      if (this.roundsAwaited) {
        this.roundsAwaited = false;
        this.notify();
      }
    });
    return 0;
  }

  /**
   * The dispatcher sleeps until a round in flight ends. A round that finds the store dry wakes
   * nobody by itself, and no delivery may end: without this a message due in 2 ms would wait for
   * pool.workerJobInterval on a server store, whose rounds overlap.
   */
  private waitForRounds(): number {
    this.roundsAwaited = true;
    return this.o.pollIntervalMs;
  }

  /**
   * With destinations: the round's lanes (which destinations, how many of each); without: null.
   * 'none': no lane may claim now (all skipped or at their limits); the tokens go back.
   */
  private async lanes(tokens: number): Promise<RoundPlan | null | 'none'> {
    if (!this.flow?.active) return null;
    const plan = await this.flow.plan(tokens);
    if (plan.limit > 0 || plan.lanes.length > 0) return plan;
    this.o.limiter.giveBack(this.destination, tokens);
    return 'none';
  }

  private async untilDue(now: number): Promise<number> {
    const next = await this.o.store.nextDueAt();
    if (!next) return this.o.pollIntervalMs;
    // claiming ahead: wake half the window before, so one round takes the next half's messages
    const lead = this.claimAheadMs / 2;
    return Math.max(0, Math.min(next.getTime() - lead - now, this.o.pollIntervalMs));
  }

  /** Recovers expired leases now and then, reconciles after a failed round, gives back what a pause holds. */
  private async housekeeping(now: number): Promise<void> {
    if (now - this.lastRecover >= RECOVER_EVERY_MS) {
      this.lastRecover = now;
      const to = this.o.atMostOnce ? 'unknown' : 'unsent';
      const recovered = await this.o.store.recoverExpired(new Date(now), to);
      if (recovered > 0) {
        this.log.warn({ recovered, to }, 'recovered messages whose lease expired');
        this.flow?.fresh();
      }
    }
    // not while a round is in flight: what it is claiming is not known yet
    if (this.reconcile && this.rounds.size === 0) {
      const keep = [...this.inFlight.keys(), ...this.ready.map((m) => m.id), ...this.outcomes.messageIds()];
      const released = await this.o.store.releaseOwned(this.o.owner, keep, new Date(now));
      this.reconcile = false;
      if (released > 0) this.log.warn({ released }, 'gave back messages a failed round had claimed');
    }
    if (this.isFenced()) this.dropReady(now);
    else if (this.state !== 'running' || this.closing) await this.releaseReady();
  }

  private isFenced(): boolean {
    const f = this.o.fence;
    if (!f) return false;
    const g = f.generation();
    if (g !== this.fenceGeneration) {
      this.fenceGeneration = g;
      this.dropReady(this.now());
    }
    return f.fenced();
  }

  /**
   * Fenced: the messages claimed but not started are no longer surely ours (other nodes may be
   * recovering them), so they are forgotten, never started later. Given back if the store answers.
   */
  private dropReady(now: number): void {
    this.unholdAll();
    if (this.ready.length === 0) return;
    const held = this.ready;
    this.ready = [];
    for (const m of held) this.flow?.finished(m.id);
    this.log.warn(
      { dropped: held.length },
      'heartbeat stale: claimed messages not started are left to recovery',
    );
    this.o.store
      .release(
        this.o.owner,
        held.map((m) => m.id),
        new Date(now),
      )
      .catch(() => undefined);
  }

  /** One round now, awaited (tests drive the pool with this, without the dispatcher). */
  async tick(): Promise<number> {
    const now = this.now();
    await this.housekeeping(now);
    if (this.state !== 'running' || this.closing || this.isFenced() || !this.worthClaiming()) return 0;
    const { tokens } = await this.o.limiter.take(this.destination, this.room(), now);
    if (tokens <= 0) return 0;
    const lanes = await this.lanes(tokens);
    return lanes === 'none' ? 0 : this.round(tokens, now, lanes);
  }

  /** Stores the outcomes waiting and claims up to `tokens` in one call, then starts deliveries. */
  private async round(tokens: number, now: number, lanes: RoundPlan | null = null): Promise<number> {
    // the outcomes waiting to be stored go in the same transaction as the claim
    const batch = this.outcomes.take();
    let result: CompleteAndClaim;
    this.claimingTokens += tokens;
    // lanes count what they claim against their destinations' limits now: never ahead
    const ahead = lanes ? 0 : this.claimAheadMs;
    try {
      result = await this.o.store.completeAndClaim(
        batch.map((b) => b.completion),
        {
          owner: this.o.owner,
          limit: lanes ? lanes.limit : tokens,
          now: new Date(now),
          dueBy: ahead > 0 ? new Date(now + ahead) : undefined,
          leaseMs: this.o.leaseMs,
          // each active destination's lane; paused, disabled and limited ones have none
          lanes: lanes?.lanes,
          total: lanes?.total,
        },
        new Date(now),
      );
      this.o.tracer?.round(now, result.claimed.length, result.applied.length);
    } catch (err) {
      this.o.tracer?.round(now, 0, 0, err);
      this.o.limiter.giveBack(this.destination, tokens);
      if (lanes) this.flow?.settle(lanes, []);
      // the outcomes are not stored: a flush retries them even if no round follows (a pause)
      this.outcomes.putBack(batch, err);
      // the store refused a value of those outcomes, and with them the claim (one transaction):
      // they are set apart, and the next round claims without them at once
      if (batch.length > 0 && isRefusedValue(err)) return 0;
      throw err;
    } finally {
      this.outcomes.written(batch);
      this.claimingTokens -= tokens;
    }
    this.report.round(batch, result.applied);
    const messages = result.claimed;
    // by lanes: drained when every lane came back short (a lane at its limit is not drained)
    const drained = lanes && this.flow ? this.flow.settle(lanes, messages) : messages.length < tokens;
    if (messages.length < tokens) this.o.limiter.giveBack(this.destination, tokens - messages.length);
    if (drained) this.drained = true;
    if (messages.length > 0) {
      this.report.claimed(messages);
      this.ready.push(...messages);
    }
    this.startReady();
    return messages.length;
  }

  /** Messages this pool may still claim: free slots plus free room in the ready buffer. */
  private room(): number {
    return (
      this.o.numWorkers +
      this.prefetch -
      this.inFlight.size -
      this.ready.length -
      this.early.length -
      this.claimingTokens
    );
  }

  /**
   * Claim in batches: while deliveries run, wait until `minClaim` can be
   * claimed, so one store round trip serves many messages.
   */
  private worthClaiming(): boolean {
    const room = this.room();
    return room > 0 && (room >= this.minClaim || this.inFlight.size === 0);
  }

  /** A free slot, and room under the bound of unrecorded deliveries. */
  private canStart(): boolean {
    if (this.inFlight.size >= this.o.numWorkers) return false;
    return this.inFlight.size + this.outcomes.unstored < this.maxUnrecorded;
  }

  /** A slot freed: the next claimed message starts now, without waiting for a store round trip. */
  private startReady(): void {
    const now = this.now();
    while (this.canStart() && this.state === 'running' && !this.closing && !this.isFenced()) {
      const m = this.ready.shift();
      if (!m) return;
      // claimed ahead (pool.claimAhead): held until due, never sent before
      if (m.due_at.getTime() > now) {
        this.hold(m);
        continue;
      }
      // its lease ran out while it waited (only with a lease shorter than a delivery): recovery
      // hands it out again, so sending it here could send it twice
      if (m.lease_expires_at && m.lease_expires_at.getTime() <= now) {
        this.flow?.finished(m.id);
        continue;
      }
      this.launch(m);
    }
  }

  /** Holds a message claimed ahead until its due time (early, soonest first, one timer). */
  private hold(m: ClaimedMessage): void {
    const due = m.due_at.getTime();
    let i = this.early.length;
    while (i > 0 && (this.early[i - 1]?.due_at.getTime() ?? 0) > due) i--;
    this.early.splice(i, 0, m);
    if (i === 0) this.armEarly();
  }

  private armEarly(): void {
    if (this.earlyTimer !== null) this.clock.clearTimeout(this.earlyTimer);
    this.earlyTimer = null;
    const first = this.early[0];
    if (!first) return;
    this.earlyTimer = this.clock.setTimeout(
      () => {
        this.earlyTimer = null;
        this.releaseDue();
      },
      Math.max(1, first.due_at.getTime() - this.now()),
    );
  }

  /** The held messages now due join the ready ones (startReady holds any back again that is not). */
  private releaseDue(): void {
    const now = this.now();
    let k = 0;
    while (k < this.early.length && (this.early[k]?.due_at.getTime() ?? Infinity) <= now) k++;
    if (k > 0) this.ready.push(...this.early.splice(0, k));
    this.armEarly();
    this.startReady();
  }

  /** Everything held for its due time back with the ready ones (to be given back or dropped). */
  private unholdAll(): void {
    if (this.early.length > 0) this.ready.push(...this.early);
    this.early = [];
    this.armEarly();
  }

  /** Gives back the leases of claimed messages that have not started (pause, stop). */
  private async releaseReady(): Promise<void> {
    this.unholdAll();
    if (this.ready.length === 0) return;
    const held = this.ready;
    this.ready = [];
    try {
      const released = await this.o.store.release(
        this.o.owner,
        held.map((m) => m.id),
        new Date(this.now()),
      );
      for (const m of held) this.flow?.finished(m.id);
      this.log.debug({ released }, 'released claimed messages that had not started');
    } catch (err) {
      this.ready = held.concat(this.ready);
      throw err;
    }
  }

  private launch(message: ClaimedMessage): void {
    const p = this.deliver(message)
      .catch((err: unknown) => this.log.error({ err, message_id: message.id }, 'delivery crashed'))
      .finally(() => {
        this.inFlight.delete(message.id);
        this.flow?.finished(message.id);
        this.startReady();
        // the dispatcher sleeps until a round is worth it: waking it per delivery costs a timer each
        if (this.worthClaiming()) this.notify();
      });
    this.inFlight.set(message.id, p);
  }

  private async deliver(message: ClaimedMessage): Promise<void> {
    const { outcome, attempt, answer } = await runAttempt(message, this.attempts);
    // its destination's breaker and slow-down hear of it before its slot frees (finished())
    if (answer) this.flow?.observe(message.destination_id, answer.verdict, answer.retryAfterMs, answer.error);
    this.queue(message, outcome, attempt);
  }

  private queue(message: ClaimedMessage, outcome: Outcome, attempt: DeliveryAttempt | null): void {
    if (outcome.kind === 'retry') this.flow?.due(message.destination_id, outcome.dueAt.getTime());
    this.outcomes.add({ message, completion: { id: message.id, owner: this.o.owner, outcome, attempt } });
  }

  /** Stores the outcomes waiting in one batch; a batch in progress is followed by the next. */
  flush(): Promise<void> {
    return this.outcomes.flush();
  }

  /**
   * Stops claiming, lets in-flight deliveries finish within `timeoutMs`, stores
   * their outcomes, and gives back the leases of what did not finish.
   */
  async stop(timeoutMs: number): Promise<{ finished: number; released: number }> {
    if (this.closing) return { finished: 0, released: 0 };
    this.lifecycle = 'closing';
    this.notify();
    await this.loop;
    // what the last window of failure lines held back is counted before the shutdown summary
    this.failures.flush();
    // rounds in flight end first: what they claim joins the ready buffer, given back below
    await Promise.all(this.rounds);
    const waiting = [...this.inFlight.keys()];
    await this.releaseReady().catch((err: unknown) =>
      this.log.error(
        { err },
        'could not release claimed messages that had not started; their leases will expire',
      ),
    );
    await within(this.clock, Promise.all(this.inFlight.values()), timeoutMs);
    const unfinished = [...this.inFlight.keys()];
    await within(this.clock, this.outcomes.flush(), Math.max(timeoutMs, 1000));
    this.outcomes.cancelTimer();
    const released = await settleUnfinished(this.o.store, {
      owner: this.o.owner,
      ids: unfinished,
      atMostOnce: this.o.atMostOnce ?? false,
      at: new Date(this.now()),
      log: this.log,
    });
    this.flow?.close();
    this.lifecycle = 'stopped';
    return { finished: waiting.length - unfinished.length, released };
  }
}
