import { DEFAULT_DESTINATION_ID } from '../domain/destination.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OutcomeEvent } from '../worker/events.js';
import type { MessageStatus } from '../domain/message.js';
import { CountedHistogram } from './counted-histogram.js';

/** What the gauges read from the running node when Prometheus scrapes. */
export interface NodeGauges {
  inFlight(): number;
  freeSlots(): number;
  running(): boolean;
  liveNodes(): number;
  /** delivery rate-limit tokens there to take; absent: no limit (rateLimiter.enabled false), no gauge */
  rateLimiterTokens?: () => number;
  /** destinations by circuit state other than closed (destinations/circuit-breaker.ts) */
  circuits?: () => { open: number; half_open: number };
}

const PREFIX = 'message_scheduler_';

/** Adds one to counts[destination][key]. */
function bump(counts: Map<string, Map<string, number>>, destination: string, key: string): void {
  let m = counts.get(destination);
  if (!m) {
    m = new Map();
    counts.set(destination, m);
  }
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Seconds: a webhook answer (ms to the timeout), a store call, a claim round. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds late: on time (under 10 ms) to a day behind. */
const LATENESS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86_400];

const CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClass(code: number | null | undefined): string {
  if (code === null || code === undefined) return 'none';
  const c = Math.floor(code / 100);
  return CLASSES[c] ?? `${c}xx`;
}

/**
 * The node's Prometheus metrics (prom-client, its own registry): names by the
 * Prometheus conventions (prefix, base units, `_total`), labels of bounded
 * cardinality only (an outcome, a status class, a route pattern; never a
 * message id or a phone number). docs/operations.md lists them.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly deliveries: Counter<'outcome' | 'destination'>;
  private readonly attempts: Counter<'status_class' | 'destination'>;
  private readonly recoveries: Counter<'reason'>;
  private readonly cacheDropped: Counter;
  private readonly apiRequests: Counter<'method' | 'route' | 'status'>;
  private readonly apiRateLimited: Counter;
  private readonly deliveryDuration: CountedHistogram;
  private readonly lateness: CountedHistogram;
  private readonly claimRound: Histogram;
  private readonly storeCall: Histogram<'operation'>;
  private readonly messages: Gauge<'status'>;
  private readonly oldestDue: Gauge;

  /**
   * @param destinationLabels how many destinations get a `destination` label value of their own
   * (`default` always does); the others are counted under `other`, so a service with thousands of
   * destinations does not make thousands of series (metrics.destinationLabels)
   */
  constructor(private readonly destinationLabels = 50) {
    const registers = [this.registry];
    // read before every scrape: what the delivery path counted since
    const flush = (): void => this.flush();
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    // prom-client's gauges of active handles, requests and resources in all end in `_total`, which
    // Prometheus keeps for counters (promtool check metrics refuses them): the same figures are the
    // sum of the per-type gauges beside them (`sum(message_scheduler_nodejs_active_handles)`)
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
      this.registry.removeSingleMetric(`${PREFIX}nodejs_${name}`);
    }
    this.deliveries = new Counter({
      name: `${PREFIX}deliveries_total`,
      collect: flush,
      help: 'Delivery outcomes stored: sent, retried, held (not sent: its destination was paused or disabled just then), failed, invalid_content, unknown (at most once), lost_lease (another node owns the message now); by destination (the first metrics.destinationLabels by name, the rest as other)',
      labelNames: ['outcome', 'destination'],
      registers,
    });
    this.attempts = new Counter({
      name: `${PREFIX}delivery_attempts_total`,
      collect: flush,
      help: 'Webhook requests made, by the class of the HTTP status answered (none: no answer) and destination',
      labelNames: ['status_class', 'destination'],
      registers,
    });
    this.recoveries = new Counter({
      name: `${PREFIX}lease_recoveries_total`,
      help: 'Messages returned from processing by this node: leases expired, or held by a dead node',
      labelNames: ['reason'],
      registers,
    });
    this.cacheDropped = new Counter({
      name: `${PREFIX}cache_writes_dropped_total`,
      help: 'Cache writes (messageId to sent_at) that failed and were dropped',
      registers,
    });
    this.apiRequests = new Counter({
      name: `${PREFIX}api_requests_total`,
      help: 'API requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.apiRateLimited = new Counter({
      name: `${PREFIX}api_rate_limited_total`,
      help: 'API requests refused by the API rate limiter (429)',
      registers,
    });
    // observed on the delivery path, once or twice per message: counted in place (counted-histogram.ts)
    this.deliveryDuration = new CountedHistogram({
      name: `${PREFIX}delivery_duration_seconds`,
      help: 'Time of one webhook request, from start to the answer or the error',
      buckets: DURATION_BUCKETS,
      registry: this.registry,
    });
    this.lateness = new CountedHistogram({
      name: `${PREFIX}delivery_lateness_seconds`,
      help: 'Time a message was sent after its send_at (messages sent on their first attempt)',
      buckets: LATENESS_BUCKETS,
      registry: this.registry,
    });
    this.claimRound = new Histogram({
      name: `${PREFIX}claim_round_duration_seconds`,
      help: 'Time of one claim round in the store (outcomes stored and messages claimed in one call)',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.storeCall = new Histogram({
      name: `${PREFIX}store_operation_duration_seconds`,
      help: 'Time of a store call, by operation',
      labelNames: ['operation'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.messages = new Gauge({
      name: `${PREFIX}messages`,
      help: 'Messages in the store by status, counted every metrics.countInterval by one node of the cluster (the others export none: sum or max across nodes alike)',
      labelNames: ['status'],
      registers,
    });
    this.oldestDue = new Gauge({
      name: `${PREFIX}oldest_due_age_seconds`,
      help: 'How long the oldest due, unsent message has been due (0: none is due), counted with message_scheduler_messages',
      registers,
    });
    // every outcome and class exported from the start at 0, so rate() and increase() see the first one
    for (const outcome of ['sent', 'retried', 'held', 'failed', 'invalid_content', 'unknown', 'lost_lease'])
      this.deliveries.inc({ outcome, destination: DEFAULT_DESTINATION_ID }, 0);
    for (const c of ['2xx', '3xx', '4xx', '5xx', 'none'])
      this.attempts.inc({ status_class: c, destination: DEFAULT_DESTINATION_ID }, 0);
    for (const reason of ['expired', 'dead_node']) this.recoveries.inc({ reason }, 0);
  }

  /**
   * The gauges read from the running node at each scrape (in flight, free slots, running, live
   * nodes, rate-limit tokens): registered once the pool and the cluster view exist.
   */
  observeNode(gauges: NodeGauges): void {
    const registers = [this.registry];
    const live: [string, string, () => number][] = [
      ['in_flight', 'Webhook requests this node has in flight', gauges.inFlight],
      [
        'free_slots',
        'Delivery slots of this node not in use (pool.numWorkers less in flight)',
        gauges.freeSlots,
      ],
      [
        'pool_running',
        "1 while this node's worker pool runs, 0 while paused",
        () => (gauges.running() ? 1 : 0),
      ],
      [
        'live_nodes',
        'Nodes delivering, as this node saw at its last heartbeat (itself included)',
        gauges.liveNodes,
      ],
    ];
    if (gauges.rateLimiterTokens)
      live.push([
        'rate_limiter_tokens',
        "Delivery rate-limit tokens there to take now (with Redis: the cluster's bucket after this node's last take)",
        gauges.rateLimiterTokens,
      ]);
    const circuits = gauges.circuits;
    if (circuits) {
      new Gauge({
        name: `${PREFIX}destination_circuits`,
        help: "Destinations whose circuit breaker is open or half-open (state), as this node last read the cluster's circuits: the same on every node, so max across nodes",
        labelNames: ['state'],
        registers,
        collect() {
          const n = circuits();
          this.set({ state: 'open' }, n.open);
          this.set({ state: 'half_open' }, n.half_open);
        },
      });
    }
    for (const [name, help, read] of live) {
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    }
  }

  /**
   * What the delivery path counted and has not applied yet: plain counts by label value.
   * prom-client's inc costs the delivery thread a closure, label checks and a hash per call;
   * applied in a batch when the metric is read it costs a fraction of that, off the delivery path.
   */
  private readonly outcomeCounts = new Map<string, Map<string, number>>();
  private readonly classCounts = new Map<string, Map<string, number>>();
  /** the destinations with a label value of their own, besides `default` */
  private readonly labelled = new Set<string>();

  /** The `destination` label value of a message's destination (null: `default`). */
  private destinationLabel(id: string | null): string {
    if (id === null || id === undefined) return DEFAULT_DESTINATION_ID;
    if (this.labelled.has(id)) return id;
    if (this.labelled.size >= this.destinationLabels) return 'other';
    this.labelled.add(id);
    return id;
  }

  /** One stored (or refused) outcome of the pool. */
  outcome(e: OutcomeEvent): void {
    const destination = this.destinationLabel(e.message.destination_id);
    if (e.attempt) {
      const c = statusClass(e.attempt.status_code);
      bump(this.classCounts, destination, c);
      this.deliveryDuration.observe(e.attempt.latency_ms / 1000);
    }
    let kind: string = e.applied ? e.outcome.kind : 'lost_lease';
    // a retry without an attempt: not sent, its destination was paused or disabled (routing.ts)
    if (kind === 'retry') kind = e.attempt ? 'retried' : 'held';
    bump(this.outcomeCounts, destination, kind);
    // a first attempt is due at send_at; a retry's back-off is not lateness
    if (e.applied && e.outcome.kind === 'sent' && e.message.attempts === 0) {
      const late = (e.outcome.sentAt.getTime() - e.message.due_at.getTime()) / 1000;
      this.lateness.observe(Math.max(0, late));
    }
  }

  /** Applies what outcome() counted to the prom-client counters. */
  private flush(): void {
    // zeroed, not cleared: the delivery path finds its keys in place
    for (const [destination, counts] of this.outcomeCounts) {
      for (const [outcome, n] of counts) {
        if (n > 0) this.deliveries.inc({ outcome, destination }, n);
        counts.set(outcome, 0);
      }
    }
    for (const [destination, counts] of this.classCounts) {
      for (const [status_class, n] of counts) {
        if (n > 0) this.attempts.inc({ status_class, destination }, n);
        counts.set(status_class, 0);
      }
    }
  }

  /** store_operation_duration_seconds by operation, looked up once: no label hashing per call */
  private readonly byOperation = new Map<string, { observe(seconds: number): void }>();

  storeOperation(operation: string, seconds: number): void {
    let h = this.byOperation.get(operation);
    if (!h) {
      h = this.storeCall.labels(operation);
      this.byOperation.set(operation, h);
    }
    h.observe(seconds);
    if (operation === 'claim' || operation === 'completeAndClaim') this.claimRound.observe(seconds);
  }

  recovered(reason: 'expired' | 'dead_node', n: number): void {
    if (n > 0) this.recoveries.inc({ reason }, n);
  }

  cacheWriteDropped(): void {
    this.cacheDropped.inc();
  }

  apiRequest(method: string, route: string, status: number): void {
    this.apiRequests.inc({ method, route, status: String(status) });
    if (status === 429) this.apiRateLimited.inc();
  }

  /** The cluster-wide counts; `null`: this node does not report them (another one does). */
  storeCounts(counts: Record<MessageStatus, number> | null, oldestDueAgeSeconds: number): void {
    this.messages.reset();
    this.oldestDue.reset();
    if (!counts) return;
    for (const [status, n] of Object.entries(counts)) this.messages.set({ status }, n);
    this.oldestDue.set(oldestDueAgeSeconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
