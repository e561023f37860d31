import type { Deliverer } from '../delivery/webhook-client.js';
import type { RetryPolicy } from '../delivery/retry-policy.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { RateLimiter } from '../ratelimit/delivery-limiter.js';
import type { Clock } from '../domain/clock.js';
import type { PoolTracer } from './pool-tracer.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import type { FlowControl } from '../destinations/flow-control.js';

export type PoolState = 'running' | 'paused';

/**
 * The pool's own life, apart from the operator's running/paused: `idle` (made; tick() drives it, or
 * start() starts its dispatcher), `running` (the dispatcher loops), `closing` (stop() began: no new
 * claim, in-flight deliveries finish), `stopped` (stop() returned).
 */
export type PoolLifecycle = 'idle' | 'running' | 'closing' | 'stopped';

/** What this pool has done since it started (outcomes counted once stored). */
export interface PoolCounts {
  claimed: number;
  sent: number;
  retried: number;
  failed: number;
  invalid_content: number;
  /** at most once: outcome unknown, held for an operator */
  unknown: number;
  /** outcomes refused because the lease had passed to another node */
  lost_lease: number;
  /** claim rounds (store calls that stored outcomes and claimed) */
  rounds: number;
}

export interface WorkerPoolOptions {
  store: Pick<
    MessageStore,
    | 'embedded'
    | 'claim'
    | 'complete'
    | 'completeAndClaim'
    | 'recoverExpired'
    | 'release'
    | 'releaseOwned'
    | 'nextDueAt'
  >;
  deliverer: Deliverer;
  limiter: RateLimiter;
  retry: RetryPolicy;
  /** this node's identity: the lease owner */
  owner: string;
  numWorkers: number;
  leaseMs: number;
  /** longest idle sleep */
  pollIntervalMs: number;
  /** claimed messages kept ready beyond the busy slots (default: 2 × numWorkers on an embedded store, numWorkers on a server; 0 at most once) */
  prefetch?: number;
  /**
   * At most once: a delivery that may have reached the receiver without a known
   * outcome (a timeout after sending, a crash) becomes `unknown` and is never
   * sent again by itself. Default: at least once (sent again, same webhook-id).
   */
  atMostOnce?: boolean;
  /**
   * Messages of `default` due within this many ms are claimed early and held until their due time
   * (0 or absent: claimed when due). Never at most once (a held message lost in a crash would become
   * unknown, not sent again) nor while destinations claim by lanes (their limits count at the claim).
   */
  claimAheadMs?: number;
  /** claim rounds in flight at once (default 2): a server store's round trip overlaps the next */
  concurrentRounds?: number;
  initialState: PoolState;
  /**
   * The cluster's fence. `fenced()`: this node must not start deliveries, it cannot prove it is
   * alive (its heartbeat is stale) so other nodes may be recovering its leases; checked at each
   * start, from the clock. `generation()` changes when the node was fenced since the last look
   * (even if nothing looked meanwhile, as after SIGSTOP): what it had claimed and not started is
   * then no longer surely its own.
   */
  fence?: { fenced(): boolean; generation(): number };
  logger: Logger;
  /**
   * This node's copy of the destinations: where each message goes (routing.ts). Absent: every
   * message goes to the configured webhook, as before destinations.
   */
  destinations?: DestinationRegistry;
  /**
   * Each destination's share of a round (its own rate, slots in flight, skipped while it has
   * nothing due). Absent: one claim for every message, as before destinations.
   */
  flow?: FlowControl;
  /** a span per delivery attempt and claim round (tracing on); absent: none */
  tracer?: PoolTracer;
  /** time and timers (default: the system's); a fake one in tests */
  clock?: Clock;
  /** shorthand: the system's timers with this `now` */
  now?: () => number;
  random?: () => number;
}
