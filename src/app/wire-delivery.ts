import type { Config } from '../config/config.js';
import type { RecentActivity } from '../metrics/recent-activity.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import { canSignal, type SignalTransport } from '../store/signal-transport.js';
import { WebhookClient, type Deliverer } from '../delivery/webhook-client.js';
import { ThreadedDeliverer } from '../delivery/threaded-deliverer.js';
import {
  SharedOutRateLimiter,
  UnlimitedRateLimiter,
  type RateLimiter,
} from '../ratelimit/delivery-limiter.js';
import { WorkerPool } from '../worker/worker-pool.js';
import type { PoolTracer } from '../worker/pool-tracer.js';
import type { ClusterView } from '../cluster/cluster-node.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import type { ClusterSignals } from '../cluster/signals.js';
import { VERSION } from './version.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import { FlowControl } from '../destinations/flow-control.js';
import type { CircuitBreakers } from '../destinations/circuit-breaker.js';
import { SharedLaneLimits, type LaneLimits } from '../destinations/lane-limits.js';

/** The webhook client, on delivery threads when pool.deliveryThreads > 0. */
export function createDeliverer(config: Config): Deliverer {
  const options = {
    url: config.webhook.url,
    timeoutMs: config.webhook.timeoutMs,
    signingSecrets: config.webhook.signingSecrets,
    bodyEscaping: config.webhook.bodyEscaping,
    connections: config.pool.numWorkers,
    userAgent: `message-scheduler/${VERSION}`,
    deniedAddresses: config.destinations.denyAddresses,
  };
  return config.pool.deliveryThreads > 0
    ? new ThreadedDeliverer(options, config.pool.deliveryThreads)
    : new WebhookClient(options);
}

export type DeliveryLimiter = RateLimiter & { close?: () => Promise<void> };

/**
 * The delivery gate (docs/decisions.md, "One rate limit for the cluster"): with Redis one bucket for
 * the cluster; without it, each node takes its share (the rate divided by the live delivering nodes).
 */
export async function createDeliveryLimiter(
  config: Config,
  logger: Logger,
  view: ClusterView,
): Promise<DeliveryLimiter> {
  if (!config.rateLimiter.enabled) return new UnlimitedRateLimiter();
  const policy = {
    maxTokens: config.rateLimiter.maxTokens,
    refillRate: config.rateLimiter.refillRate,
    refillIntervalMs: config.rateLimiter.refillIntervalMs,
  };
  const deliverers = (): number => view.liveDeliverers();
  if (!config.redis) return new SharedOutRateLimiter(policy, deliverers);
  const share = new SharedOutRateLimiter(policy, deliverers, true);
  const { RedisDeliveryLimiter } = await import('../ratelimit/redis-delivery-limiter.js');
  const redis = new RedisDeliveryLimiter(
    config.redis,
    policy,
    `${config.cache.keyPrefix}ms:ratelimit:delivery:`,
    share,
    logger,
  );
  // not reachable now: the node's share serves until it is (logged by the limiter)
  await redis.connect().catch(() => undefined);
  return redis;
}

/**
 * Each destination's own limits across the cluster: with Redis one bucket and one count of slots in
 * flight per destination; without it, this node's share of them.
 */
export async function createLaneLimits(
  config: Config,
  logger: Logger,
  view: ClusterView,
  nodeId: string,
): Promise<LaneLimits> {
  const deliverers = (): number => view.liveDeliverers();
  if (!config.redis) return new SharedLaneLimits(deliverers);
  const { RedisLaneLimits } = await import('../destinations/redis-lane-limits.js');
  const limits = new RedisLaneLimits(
    config.redis,
    `${config.cache.keyPrefix}ms:destinations:`,
    nodeId,
    config.pool.leaseMs,
    new SharedLaneLimits(deliverers, Date.now, true),
    logger,
  );
  await limits.connect().catch(() => undefined);
  return limits;
}

/**
 * Pushes between nodes (docs/decisions.md, "Wake-ups across nodes"): Redis pub/sub when REDIS_URI is
 * set, the store's own push (PostgreSQL LISTEN/NOTIFY) otherwise, none on the other stores (polling).
 * A push that cannot start is logged and polling serves.
 */
export async function createSignals(
  config: Config,
  store: MessageStore,
  logger: Logger,
): Promise<ClusterSignals> {
  const { NoSignals, TransportSignals } = await import('../cluster/signals.js');
  const s = config.store;
  const scope =
    s.kind === 'postgres'
      ? `pg:${s.databaseSchema}`
      : s.kind === 'mongodb'
        ? `mongo:${s.mongoDbName}.${s.mongoCollection}`
        : `sqlite:${s.sqlitePath}`;
  let transport: SignalTransport | null = null;
  if (config.redis) {
    const { RedisTransport } = await import('../cluster/redis-transport.js');
    transport = new RedisTransport(config.redis, `${config.cache.keyPrefix}ms:signals:${scope}`);
  } else if (canSignal(store)) transport = store.signalTransport();
  if (!transport) return new NoSignals();
  const signals = new TransportSignals(transport, logger);
  try {
    await signals.start();
    return signals;
  } catch (err) {
    logger.warn({ err }, 'cluster signals cannot start: nodes learn of changes by polling');
    await signals.close();
    return new NoSignals();
  }
}

/** The pool and the cluster node start from the same state and delivery mode. */
function startState(config: Config): { initialState: 'running' | 'paused'; atMostOnce: boolean } {
  return {
    initialState: config.pool.initialRunning ? 'running' : 'paused',
    atMostOnce: config.deliveryMode === 'at-most-once',
  };
}

export function createPool(
  config: Config,
  parts: {
    store: MessageStore;
    destinations: DestinationRegistry;
    breakers: CircuitBreakers;
    laneLimits: LaneLimits;
    deliverer: Deliverer;
    limiter: RateLimiter;
    view: ClusterView;
    nodeId: string;
    tracer: PoolTracer | null;
    logger: Logger;
  },
): WorkerPool {
  return new WorkerPool({
    store: parts.store,
    destinations: parts.destinations,
    flow: new FlowControl({
      registry: parts.destinations,
      limits: parts.laneLimits,
      store: parts.store,
      maxDryMs: config.worker.jobIntervalMs,
      now: Date.now,
      breakers: parts.breakers,
    }),
    deliverer: parts.deliverer,
    limiter: parts.limiter,
    retry: config.retry,
    owner: parts.nodeId,
    numWorkers: config.pool.numWorkers,
    leaseMs: config.pool.leaseMs,
    // tokens are taken at the claim: claimed ahead, a rate limit's burst could land at one due time
    claimAheadMs: config.rateLimiter.enabled ? 0 : config.pool.claimAheadMs,
    pollIntervalMs: config.worker.jobIntervalMs,
    ...startState(config),
    // the cluster node keeps the view: the pool starts no delivery while this node is fenced
    fence: parts.view.fence,
    logger: parts.logger,
    ...(parts.tracer ? { tracer: parts.tracer } : {}),
  });
}

export function createClusterNode(
  config: Config,
  parts: {
    store: MessageStore;
    pool: WorkerPool;
    view: ClusterView;
    nodeId: string;
    logger: Logger;
    activity: RecentActivity | null;
  },
): ClusterNode {
  const activity = parts.activity;
  return new ClusterNode({
    control: parts.store.control,
    messages: parts.store,
    pool: parts.pool,
    view: parts.view,
    nodeId: parts.nodeId,
    role: config.role,
    version: VERSION,
    heartbeatMs: config.pool.heartbeatMs,
    nodeTimeoutMs: config.pool.nodeTimeoutMs,
    stateSyncMs: config.pool.stateSyncMs,
    ...startState(config),
    logger: parts.logger,
    ...(activity ? { activity: () => activity.snapshot() } : {}),
  });
}
