import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Cache } from '../cache/cache.js';
import type { Deliverer } from '../delivery/webhook-client.js';
import { DEFAULT_DESTINATION } from '../ratelimit/delivery-limiter.js';
import type { WorkerPool } from '../worker/worker-pool.js';
import { ClusterView, type ClusterNode } from '../cluster/cluster-node.js';
import { Metrics } from '../metrics/metrics.js';
import { RecentActivity } from '../metrics/recent-activity.js';
import type { MetricsServer } from '../metrics/metrics-server.js';
import { timedStore } from '../metrics/timed-store.js';
import type { ApiAccess } from '../api/deps.js';
import { createAccess } from '../api/create-access.js';
import { Lifecycle } from './lifecycle.js';
import { createCache, openStore } from './wire-store.js';
import { listenMetrics, startStoreCounts, startTracing } from './wire-telemetry.js';
import {
  createClusterNode,
  createDeliverer,
  createDeliveryLimiter,
  createLaneLimits,
  createPool,
  createSignals,
} from './wire-delivery.js';
import { writeOutcomes } from './cache-writes.js';
import { createApi } from './wire-api.js';
import { openDestinations } from './wire-destinations.js';
import { createSchedules } from './wire-schedules.js';
import type { DestinationRegistry } from '../destinations/registry.js';

export { VERSION } from './version.js';
export { createCache, seedFromFile } from './wire-store.js';

export interface App {
  server: FastifyInstance;
  pool: WorkerPool;
  cluster: ClusterNode;
  store: MessageStore;
  cache: Cache;
  nodeId: string;
  /** the metrics.listen listener, when configured */
  metricsServer: MetricsServer | null;
  /** the API's access control (keys, OAuth2, rate limits) */
  access: ApiAccess;
  /** this node's copy of the destinations */
  destinations: DestinationRegistry;
  /** stops claiming, finishes or releases in-flight deliveries, closes everything (the reverse of start) */
  close(): Promise<void>;
}

export interface AppOverrides {
  store?: MessageStore;
  deliverer?: Deliverer;
  cache?: Cache;
}

/** After pool.timeout, how long requests still in flight may take before their connections are destroyed. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * The composition root: one node's parts from a validated config, opened in one order and closed
 * in the reverse (lifecycle.ts). Each part is built by a wiring module of its own (wire-*.ts); the
 * parts reach each other only through what they are given here, never through a later closure:
 * the cluster's view (fence, live nodes) is made first, for the pool, the limiter and the gauges.
 */
export async function createApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const life = new Lifecycle(logger);
  // closed last: the spans of the shutdown itself are exported too
  const traced = await life.open(
    'tracing',
    () => startTracing(config),
    (t) => t?.tracing.close(),
  );
  const rawStore = await life.open(
    'store',
    () => openStore(config, logger, overrides.store),
    (s) => s.close(),
  );
  const destinations = await life.open(
    'destinations',
    () => openDestinations(config, rawStore, logger, nodeId),
    (d) => d.registry.close(),
  );
  const metrics = config.metrics.enabled ? new Metrics(config.metrics.destinationLabels) : null;
  const store: MessageStore = metrics ? timedStore(rawStore, metrics) : rawStore;
  const cache = await life.open(
    'cache',
    async () => overrides.cache ?? (await createCache(config)),
    (c) => c.close(),
  );
  const access = await life.open(
    'access',
    async () => {
      const a = await createAccess(config, store, logger);
      await a.start();
      return a;
    },
    (a) => a.close(),
  );
  // the pool waited pool.timeout for in-flight deliveries and released the rest: a receiver that
  // still holds a request does not hold the process
  const deliverer = await life.open(
    'deliverer',
    () => overrides.deliverer ?? createDeliverer(config),
    (d) => d.close(SHUTDOWN_GRACE_MS),
  );
  const view = new ClusterView(config.pool.nodeTimeoutMs);
  const limiter = await life.open(
    'limiter',
    () => createDeliveryLimiter(config, logger, view),
    (l) => l.close?.(),
  );
  const laneLimits = await life.open(
    'destination limits',
    () => createLaneLimits(config, logger, view, nodeId),
    (l) => l.close?.(),
  );
  const pool = createPool(config, {
    store,
    destinations: destinations.registry,
    breakers: destinations.breakers,
    laneLimits,
    deliverer,
    limiter,
    view,
    nodeId,
    tracer: traced ? traced.tracing.poolTracer(config.webhook.url) : null,
    logger,
  });
  // operational events about messages: a failure (retries used up) or an unknown outcome, once stored
  const ops = destinations.events;
  if (ops) pool.events.on('outcome', (e) => ops.outcome(e));
  // what this node delivered minute by minute, in its heartbeat: the dashboard's overview
  const activity = config.role === 'api' ? null : new RecentActivity();
  if (activity) pool.events.on('outcome', (e) => activity.record(e));
  const cluster = createClusterNode(config, { store, pool, view, nodeId, logger, activity });
  const signals = await life.open(
    'signals',
    () => createSignals(config, rawStore, logger),
    (s) => s.close(),
  );
  signals.onSignal((signal) => {
    if (signal === 'state') void cluster.syncNow();
    else if (signal === 'destinations') {
      // a pause or a resume elsewhere holds here now, not at the next refresh
      destinations.registry.refresh().then(
        () => pool.notify(),
        (err: unknown) => logger.warn({ err }, 'could not read the destinations after a change elsewhere'),
      );
    } else pool.wake();
  });
  destinations.registry.onLocalChange(() => signals.publish('destinations'));
  await life.open(
    'cluster',
    () => cluster.start(),
    () => cluster.stop(),
  );
  // closed before the cluster node: leases are released while this node is still in the list
  await life.open(
    'pool',
    () => pool,
    async (p) => {
      const { finished, released } = await p.stop(config.pool.timeoutMs);
      logger.info({ finished, released, ...p.stats() }, 'worker pool stopped');
    },
  );
  await life.open(
    'outcomes',
    () => writeOutcomes(pool.events, cache, config.cache.ttlMs, metrics, logger),
    (w) => w.close(),
  );
  let metricsServer: MetricsServer | null = null;
  if (metrics) {
    metrics.observeNode({
      inFlight: () => pool.inFlightCount,
      freeSlots: () => Math.max(0, config.pool.numWorkers - pool.inFlightCount),
      running: () => pool.getState() === 'running',
      liveNodes: () => view.liveDeliverers(),
      circuits: () => destinations.breakers.countByState(),
      ...(config.rateLimiter.enabled
        ? { rateLimiterTokens: () => limiter.tokens?.(DEFAULT_DESTINATION, Date.now()) ?? Number.NaN }
        : {}),
    });
    await life.open(
      'store counts',
      () =>
        startStoreCounts(
          config,
          store,
          metrics,
          nodeId,
          async () => (await cluster.nodes()).map((n) => n.id),
          logger,
        ),
      (c) => c.stop(),
    );
    metricsServer = await life.open(
      'metrics listener',
      () => listenMetrics(config, metrics, logger),
      (m) => m?.close(),
    );
  }
  // new messages were stored (the API, a schedule): this node's pool and the others' look again
  const onCreated = (): void => {
    pool.wake();
    signals.publish('wake');
  };
  const schedules = createSchedules(config, {
    store,
    registry: destinations.registry,
    metrics,
    onCreated,
    logger,
  });
  const scheduler = schedules.scheduler;
  // closed before the pool and the store: a pass in progress finishes first
  if (scheduler) {
    await life.open(
      'scheduler',
      async () => scheduler.start(),
      () => scheduler.stop(),
    );
  }
  // first to close: no new request once shutdown begins
  const server = await life.open(
    'api',
    () =>
      createApi(config, {
        store,
        destinations,
        schedules: schedules.service,
        onCreated,
        cache,
        pool,
        cluster,
        signals,
        access: access.access,
        metrics,
        requests: traced?.requests ?? null,
        logger,
      }),
    (s) => s.close(),
  );
  return {
    server,
    pool,
    cluster,
    store,
    cache,
    nodeId,
    metricsServer,
    access: access.access,
    destinations: destinations.registry,
    close: () => life.close(),
  };
}
